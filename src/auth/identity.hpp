// Who is calling: what the gateway learned from the credential a request carried (an
// OAuth access token, an API key, a client certificate). Policy rules, rate-limit keys and
// the audit log see this; nothing else of the credential is kept.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace mcpgate::auth {

struct identity {
  enum class method { none, oauth, api_key, client_cert };
  method how = method::none;
  std::string subject = {};              // oauth: sub; api_key: the key's name; client_cert: the subject CN
  std::string client_id = {};            // oauth: client_id / azp
  std::vector<std::string> scopes = {};  // oauth
  const config::api_key* key = nullptr; // api_key: points into the snapshot's config
  std::vector<std::string> cert_names = {};  // client_cert: SANs (DNS, email, URI) and the subject CN

  bool authenticated() const { return how != method::none; }
  // "oauth:alice", "key:ci-bot", "cert:alice.example.com", "" when anonymous: for logs,
  // the audit log and rate-limit keys (one string per caller).
  std::string label() const;
};

// Some glob of `globs` matches some value of `values` (fnmatch, `*` matching '/' too).
bool any_glob_matches(const std::vector<std::string>& globs, const std::vector<std::string>& values);

// Every condition that is set holds for `who` (conditions on scopes need every scope,
// the glob lists any one match). An anonymous caller meets no condition.
bool meets(const config::caller_condition& condition, const identity& who);

}  // namespace mcpgate::auth
