// Everything the data path derives from one config: built once, immutable, shared.
// A reload builds a new runtime_snapshot and swaps the pointer; an exchange holds the
// snapshot it started with until it ends, so a reload never changes a live exchange.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/ssl/context.hpp>

#include "config/config.hpp"
#include "http/access_policy.hpp"
#include "http/policy_state.hpp"
#include "http/rate_limiter.hpp"
#include "http/router.hpp"
#include "net/ip_prefix.hpp"

namespace mcpgate::auth {
class introspector;
}

namespace mcpgate::stdio {
class bridge_registry;
}

namespace mcpgate::http {

class upstream_set;

struct runtime_snapshot {
  // Throws std::runtime_error when something the config points at cannot be used
  // (an unreadable upstream CA file): the caller keeps its previous snapshot. Access
  // rules are compiled for `now` (ip_sets time windows).
  // `state` carries counters and rate-limit buckets from one snapshot to the next; null:
  // a fresh one (tests, one-off tools).
  // `stdio`: the gateway's stdio servers (kept across snapshots); null: stdio routes answer 502.
  runtime_snapshot(std::shared_ptr<const config::config> config, std::uint64_t generation,
                   net::wall_time now = std::chrono::system_clock::now(), std::shared_ptr<policy_state> state = nullptr,
                   std::shared_ptr<stdio::bridge_registry> stdio = nullptr);

  std::shared_ptr<const config::config> cfg;
  router routes;                                       // points into *cfg
  std::optional<net::ip_prefix_set> allowed_upstreams;  // nullopt: validation disabled
  net::ip_prefix_set trusted_proxies;
  std::vector<compiled_access_rule> listener_access;  // by listener index
  std::vector<compiled_access_rule> route_access;     // by index in cfg->routes
  std::optional<net::wall_time> next_access_change;   // rebuild then: a window opens or closes
  net::wall_time compiled_at;

  struct route_rate_limit {
    const config::rate_limit* spec;  // points into *cfg
    std::shared_ptr<rate_limiter> limiter;
    std::shared_ptr<decision_counter> counter;
  };
  std::vector<std::vector<route_rate_limit>> route_rate_limits;  // by index in cfg->routes
  // Request header / body limits the parser starts with: the largest any route allows
  // (each route's own limit applies once the request is routed).
  std::uint32_t parse_header_limit = 0;
  std::uint64_t parse_body_limit = 0;
  std::shared_ptr<policy_state> policy;

  std::size_t index_of(const config::route& route) const {
    return static_cast<std::size_t>(&route - cfg->routes.data());
  }
  const compiled_access_rule& access_of(const config::route& route) const { return route_access[index_of(route)]; }
  const std::vector<route_rate_limit>& rate_limits_of(const config::route& route) const {
    return route_rate_limits[index_of(route)];
  }
  std::uint32_t header_limit_of(const config::route& route) const {
    return route.limits.max_request_header_bytes.value_or(cfg->limits.max_request_header_bytes);
  }
  std::uint64_t body_limit_of(const config::route& route) const {
    return route.limits.max_request_body_bytes.value_or(cfg->limits.max_request_body_bytes);
  }
  // Routes with several upstreams: their instances (by index in cfg->routes; null for
  // routes with one), and the key that authenticates their session ids.
  std::vector<std::shared_ptr<upstream_set>> route_upstreams;
  std::string affinity_key;
  std::shared_ptr<boost::asio::ssl::context> upstream_tls;  // null when no https upstream
  std::shared_ptr<stdio::bridge_registry> stdio;
  // oauth routes: their issuer's keys (by index in cfg->routes; null for other routes).
  std::vector<std::shared_ptr<running_key_source>> route_key_sources;
  auth::key_source* key_source_of(const config::route& route) const {
    const auto& running = route_key_sources[index_of(route)];
    return running ? running->source.get() : nullptr;
  }
  // Routes with oauth.introspection: their endpoint (by index in cfg->routes; else null).
  std::vector<std::shared_ptr<const auth::introspector>> route_introspectors;
  const auth::introspector* introspector_of(const config::route& route) const {
    return route_introspectors[index_of(route)].get();
  }
  std::uint64_t generation;
};

}  // namespace mcpgate::http

#include <atomic>

namespace mcpgate::http {
using snapshot_ptr = std::shared_ptr<const runtime_snapshot>;
// The gateway's current snapshot; workers load it once per exchange.
using snapshot_slot = std::atomic<snapshot_ptr>;
}  // namespace mcpgate::http
