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
#include "http/router.hpp"
#include "net/ip_prefix.hpp"

namespace mcpgate::http {

struct runtime_snapshot {
  // Throws std::runtime_error when something the config points at cannot be used
  // (an unreadable upstream CA file): the caller keeps its previous snapshot. Access
  // rules are compiled for `now` (ip_sets time windows).
  runtime_snapshot(std::shared_ptr<const config::config> config, std::uint64_t generation,
                   net::wall_time now = std::chrono::system_clock::now());

  std::shared_ptr<const config::config> cfg;
  router routes;                                       // points into *cfg
  std::optional<net::ip_prefix_set> allowed_upstreams;  // nullopt: validation disabled
  net::ip_prefix_set trusted_proxies;
  std::vector<compiled_access_rule> listener_access;  // by listener index
  std::vector<compiled_access_rule> route_access;     // by index in cfg->routes
  std::optional<net::wall_time> next_access_change;   // rebuild then: a window opens or closes
  net::wall_time compiled_at;

  const compiled_access_rule& access_of(const config::route& route) const {
    return route_access[static_cast<std::size_t>(&route - cfg->routes.data())];
  }
  std::shared_ptr<boost::asio::ssl::context> upstream_tls;  // null when no https upstream
  std::uint64_t generation;
};

}  // namespace mcpgate::http

#include <atomic>

namespace mcpgate::http {
using snapshot_ptr = std::shared_ptr<const runtime_snapshot>;
// The gateway's current snapshot; workers load it once per exchange.
using snapshot_slot = std::atomic<snapshot_ptr>;
}  // namespace mcpgate::http
