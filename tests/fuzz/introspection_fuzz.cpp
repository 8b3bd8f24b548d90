// Fuzz target for what an RFC 7662 introspection endpoint answers (the gateway trusts the
// endpoint's TLS, not its JSON). Invariants: no crash; a refused answer says why; only an
// answer whose `active` is true can admit, and never one for another issuer or audience.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/authenticate.hpp"
#include "auth/introspection.hpp"

namespace {

using namespace mcpgate;

const config::oauth_settings& oauth() {
  static const config::oauth_settings o = [] {
    config::oauth_settings s;
    s.issuer = "https://auth.example.com";
    s.audience = "https://mcp.example.com/mcp";
    s.scopes = {"mcp:tools"};
    return s;
  }();
  return o;
}

const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = auth::parse_introspection_response(input);
  if (!parsed.response) {
    if (parsed.error.empty()) __builtin_trap();
    return 0;
  }
  auth::introspection_outcome outcome;
  outcome.response = parsed.response;
  const auto d = auth::decide_introspected(oauth(), outcome, now);
  if (d.verdict == auth::decision::kind::allowed) {
    const auto& claims = parsed.response->claims;
    if (!parsed.response->active) __builtin_trap();
    if (!claims.issuer.empty() && claims.issuer != oauth().issuer) __builtin_trap();
    if (claims.expires_at && *claims.expires_at <= 1'800'000'000 - 60) __builtin_trap();
    if (!claims.audience.empty() &&
        std::find(claims.audience.begin(), claims.audience.end(), oauth().audience) == claims.audience.end()) {
      __builtin_trap();
    }
  } else if (d.reason.empty()) {
    __builtin_trap();
  }
  (void)auth::cache_lifetime(*parsed.response, std::chrono::seconds(60), now);
  return 0;
}
