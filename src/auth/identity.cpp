#include "auth/identity.hpp"

#include <fnmatch.h>

#include <algorithm>

namespace mcpgate::auth {

namespace {

bool any_glob_matches(const std::vector<std::string>& globs, const std::string& value) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& glob) { return ::fnmatch(glob.c_str(), value.c_str(), 0) == 0; });
}

}  // namespace

bool any_glob_matches(const std::vector<std::string>& globs, const std::vector<std::string>& values) {
  return std::any_of(values.begin(), values.end(), [&](const std::string& v) { return any_glob_matches(globs, v); });
}

std::string identity::label() const {
  switch (how) {
    case method::none: return "";
    case method::oauth: return "oauth:" + (subject.empty() ? client_id : subject);
    case method::api_key: return "key:" + subject;
    case method::client_cert: return "cert:" + (cert_names.empty() ? subject : cert_names.front());
  }
  return "";
}

bool meets(const config::caller_condition& condition, const identity& who) {
  if (condition.empty()) return true;
  if (!who.authenticated()) return false;
  for (const auto& scope : condition.scopes) {
    if (std::find(who.scopes.begin(), who.scopes.end(), scope) == who.scopes.end()) return false;
  }
  const bool oauth = who.how == identity::method::oauth;
  if (!condition.subjects.empty() && !(oauth && any_glob_matches(condition.subjects, who.subject))) return false;
  if (!condition.client_ids.empty() && !(oauth && any_glob_matches(condition.client_ids, who.client_id))) return false;
  if (!condition.keys.empty() &&
      !(who.how == identity::method::api_key && any_glob_matches(condition.keys, who.subject))) {
    return false;
  }
  if (!condition.client_certs.empty() &&
      !(who.how == identity::method::client_cert && any_glob_matches(condition.client_certs, who.cert_names))) {
    return false;
  }
  return true;
}

}  // namespace mcpgate::auth
