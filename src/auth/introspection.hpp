// Opaque access tokens, checked by asking the authorization server (RFC 7662 token
// introspection) instead of verifying a signature.
//
// The exchange asks on its own worker, suspended (no thread blocks): the answer is only
// needed by that worker, and each worker keeps its own cache of answers, so nothing is
// shared between threads but the immutable introspector. The endpoint is an address the
// gateway connects to on its own, so auth::fetch() applies its SSRF rules (https only,
// public addresses unless oauth.allowed_ips says otherwise, bounded size and time).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>

#include "auth/fetch.hpp"
#include "auth/jwt.hpp"
#include "config/config.hpp"

namespace mcpgate::auth {

// What the endpoint said about a token (RFC 7662 section 2.2). The claims share their
// meaning (and their parser) with a JWT's.
struct introspection_response {
  bool active = false;
  token_claims claims = {};    // read when active
  std::string token_type = {};  // "" when the endpoint sent none
};

struct introspection_parse {
  std::optional<introspection_response> response;
  std::string error;  // when !response: not an RFC 7662 answer (never admits anyone)
};

constexpr std::size_t max_introspection_response_bytes = 64 * 1024;
// `active` must be a JSON boolean; an inactive answer's other members are ignored (RFC 7662
// 2.2: the server should send nothing else). Never throws.
introspection_parse parse_introspection_response(std::string_view json);

// How long an answer may be reused: `max_age`, and for an active token no later than its
// exp. Zero: not to be cached.
std::chrono::seconds cache_lifetime(const introspection_response& response, std::chrono::seconds max_age,
                                    std::chrono::system_clock::time_point now);

// Answers by key (a SHA-256 of the token: the cache never holds a token), each until its
// lifetime ends. Bounded: when full, expired answers go first, then everything (a flood of
// distinct tokens empties it rather than growing it). Not thread-safe: one per worker.
class introspection_cache {
 public:
  explicit introspection_cache(std::size_t capacity = 4096) : capacity_(capacity) {}
  const introspection_response* find(const std::string& key, std::chrono::system_clock::time_point now);
  void store(const std::string& key, const introspection_response& response, std::chrono::seconds lifetime,
             std::chrono::system_clock::time_point now);
  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    introspection_response response;
    std::chrono::system_clock::time_point expires;
  };
  std::size_t capacity_;
  std::unordered_map<std::string, entry> entries_;
};

// RFC 6749 section 2.3.1: client_id and secret are form-urlencoded before they are joined
// for HTTP Basic; the request body is form-urlencoded too.
std::string form_urlencode(std::string_view text);
std::string basic_credentials(std::string_view client_id, std::string_view client_secret);

struct introspection_outcome {
  std::optional<introspection_response> response;  // null: no usable answer (`error` says why)
  std::string error;                                // for the log: never the token or the secret
  bool from_cache = false;
};

// One route's introspection endpoint: built with the snapshot, shared by the workers.
class introspector {
 public:
  explicit introspector(const config::oauth_settings& oauth);

  // Asks about `token` on the calling coroutine's executor, or answers from this thread's
  // cache. Concurrent questions about one token on one worker share one request. Never
  // throws.
  boost::asio::awaitable<introspection_outcome> introspect(std::string token) const;

  const std::string& endpoint() const { return settings_.endpoint; }

 private:
  introspection_outcome interpret(const fetch_result& res) const;

  config::introspection_settings settings_;
  fetch_rules rules_;
  std::string authorization_;  // "Basic ..."
  std::string setup_error_;    // the TLS context could not be built (ca_file)
  std::string identity_;       // endpoint and client: answers for other ones are not ours
};

}  // namespace mcpgate::auth
