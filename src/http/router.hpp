// Maps (Host, path) to a route, as Anthropic's mcp-proxy does for hosts, plus paths:
//   1. the Host (port stripped, lower-cased) equals a routes key exactly;
//   2. else, if tunnel_domain is set and the Host ends with ".<tunnel_domain>", the part
//      before it is looked up as a key ("echo.abcd.tunnel.example" -> "echo");
//   3. else the key "*".
// The first of these keys that exists decides the host; within it the longest matching
// path prefix wins (segment-wise: "/mcp" matches "/mcp" and "/mcp/x", never "/mcpx").
// A host key that exists but has no matching path is a miss: there is no fall-through to
// "*", so a more specific host never leaks to the catch-all's upstream.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"

namespace mcpgate::http {

class router {
 public:
  // Routes point into `cfg`, which must outlive the router (both live in one snapshot).
  explicit router(const config::config& cfg);

  // `host` is the Host header value (may carry ":port"); `target` the request-target
  // in origin form ("/mcp?x=1"). Returns nullptr when nothing matches.
  const config::route* match(std::string_view host, std::string_view target) const;

  // Lower-cased host without port; IPv6 literals keep no brackets. Exposed for logging.
  static std::string normalise_host(std::string_view host);
  static bool path_matches(std::string_view prefix, std::string_view path);

 private:
  std::string tunnel_suffix_;  // ".<tunnel_domain>" or empty
  // host key -> routes of that key, longest path first
  std::unordered_map<std::string, std::vector<const config::route*>> by_host_;
};

}  // namespace mcpgate::http
