// Session ids that name the upstream instance which created the session, for routes with
// several upstreams. The gateway keeps no table: the id the client sees carries the
// instance and the upstream's own id, authenticated with the affinity key, so any replica
// that has the key (and any later reload) sends each request of the session to the same
// instance, and a client cannot steer a request at an instance of its choosing.
//
//   mg1.<base64url(instance)>.<base64url(upstream session id)>.<base64url(HMAC-SHA256)[:16 bytes]>
//
// All of it is visible ASCII (0x21-0x7E), as MCP requires of session ids.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::mcp {

struct affine_session {
  std::string instance;          // the upstream as configured: "http://10.0.0.5:3001"
  std::string upstream_session;  // the id the instance gave
};

std::string encode_affine_session(std::string_view key, std::string_view instance, std::string_view upstream_session);

// nullopt: not one of ours, malformed, or made with another key.
std::optional<affine_session> decode_affine_session(std::string_view key, std::string_view token);

// A fresh random key (for a gateway without session_affinity.key_file).
std::string random_affinity_key();

}  // namespace mcpgate::mcp
