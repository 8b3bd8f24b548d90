// Everything the data path derives from one config: built once, immutable, shared.
// A reload builds a new runtime_snapshot and swaps the pointer; an exchange holds the
// snapshot it started with until it ends, so a reload never changes a live exchange.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/ssl/context.hpp>

#include "config/config.hpp"
#include "http/router.hpp"
#include "net/ip_prefix.hpp"

namespace mcpgate::http {

struct runtime_snapshot {
  // Throws std::runtime_error when something the config points at cannot be used
  // (an unreadable upstream CA file): the caller keeps its previous snapshot.
  runtime_snapshot(std::shared_ptr<const config::config> config, std::uint64_t generation);

  std::shared_ptr<const config::config> cfg;
  router routes;                                       // points into *cfg
  std::optional<net::ip_prefix_set> allowed_upstreams;  // nullopt: validation disabled
  net::ip_prefix_set trusted_proxies;
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
