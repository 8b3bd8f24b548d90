// Route `auth:` decisions: which credential a request carries, whether it is good for the
// route, and what to answer when it is not (RFC 6750 challenges, RFC 9728 metadata).
//
// Plain computation over what the request presents and the keys at hand; the one thing
// that needs I/O (fetching an issuer's keys when a token names an unknown kid) is left to
// the caller, which refreshes and decides again (decision::unknown_kid).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/client_cert.hpp"
#include "auth/identity.hpp"
#include "config/config.hpp"

namespace mcpgate::auth {

struct jwk_set;
struct introspection_outcome;

// What one request presents.
struct presented {
  std::string_view authorization = {};   // the Authorization header ("" = none)
  std::size_t authorization_fields = 0;  // how many Authorization fields it had
  std::string_view target = {};          // request-target (a token in the query string is refused)
  const client_certificate* certificate = nullptr;  // verified by the listener; null: none
};

struct decision {
  enum class kind {
    allowed,
    missing,             // 401: no credential
    invalid,             // 401: a credential that does not verify
    forbidden,           // 403: a good credential not allowed here (insufficient scope, key not for this route)
    bad_request,         // 400: token in the query string, several Authorization fields
    keys_unavailable,    // 503: the issuer's keys could not be fetched yet
    introspection_unavailable,  // 503: the introspection endpoint gave no usable answer
  };
  kind verdict = kind::missing;
  identity who;
  std::string reason;  // access log and metrics: auth_missing, auth_invalid_token, auth_insufficient_scope, ...
  std::string detail;  // for the log: "expired: exp ... 42 s in the past"; never the credential
  bool unknown_kid = false;  // invalid because the token's kid is in no key: refresh the keys and decide again
  // Set (with verdict introspection_unavailable, so that a caller that does not ask
  // admits no one): the token to introspect, then to decide_introspected(). Points into
  // the request's Authorization.
  std::string_view introspect = {};
  std::vector<std::string> missing_scopes;

  unsigned status() const;
};

// `jwks`: the issuer's current keys (null: none fetched yet).
//
// A token whose signature verified is remembered (per thread, by its SHA-256, at most
// verified_token_cache_size) with the keys and the settings it verified under: the same
// token again costs a hash and the time checks instead of a signature check (25-100 us).
// New keys from the issuer or other settings miss the cache.
constexpr std::size_t verified_token_cache_size = 4096;
decision decide(const config::route& route, const presented& request, const std::vector<config::api_key>& keys,
                const std::shared_ptr<const jwk_set>& jwks, std::chrono::system_clock::time_point now);

// Which tokens are introspected (oauth.introspection set): every token when the route has
// no jwks_uri, else those that are not JWTs (three base64url parts); the others are
// verified here. Without introspection a token that is not a JWT is refused.
//
// What the endpoint said, judged for the route: active must be true; iss, aud and
// token_type are checked when present, exp / nbf / iat with the leeway, then the scopes as
// for a JWT.
decision decide_introspected(const config::oauth_settings& oauth, const introspection_outcome& outcome,
                             std::chrono::system_clock::time_point now);

// The WWW-Authenticate value for a refusal ("" when the refusal has none: 403 for a
// client certificate, 503).
std::string challenge(const config::route& route, const decision& d);

// RFC 9728 section 3.1: the metadata of resource https://host/mcp is at
// https://host/.well-known/oauth-protected-resource/mcp.
constexpr std::string_view metadata_prefix = "/.well-known/oauth-protected-resource";
std::string resource_path(const config::oauth_settings& oauth);  // the audience's path: "/mcp", "/" when none
std::string metadata_path(const config::oauth_settings& oauth);  // "/.well-known/oauth-protected-resource/mcp"
std::string metadata_url(const config::oauth_settings& oauth);
std::string metadata_document(const config::oauth_settings& oauth);

// Whether the request-target's query carries an access_token parameter (RFC 6750 2.3,
// which the MCP spec forbids: URLs end up in logs and browser history).
bool token_in_query(std::string_view target);

}  // namespace mcpgate::auth
