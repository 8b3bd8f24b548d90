// Upstream connections: dialing with SSRF validation, and a per-worker keep-alive pool.
//
// Dialing resolves the upstream host once, checks EVERY resolved address against
// upstream.allowed_ips, and connects only to those checked addresses: there is no second
// resolution between check and connect for a rebinding DNS server to exploit.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "config/config.hpp"
#include "net/stream.hpp"

namespace mcpgate::http {

struct runtime_snapshot;

struct upstream_connection {
  explicit upstream_connection(net::maybe_tls_stream s, std::string key)
      : stream(std::move(s)), pool_key(std::move(key)) {}

  net::maybe_tls_stream stream;
  boost::beast::flat_buffer buffer;  // bytes read from the upstream and not yet parsed
  std::string pool_key;              // scheme://authority
  std::chrono::steady_clock::time_point idle_since{};
  bool reused = false;               // came from the pool (a retry is possible if it fails at once)
};
using upstream_connection_ptr = std::unique_ptr<upstream_connection>;

// Why a dial failed, as a local reply: HTTP status + stable reason.
struct dial_outcome {
  upstream_connection_ptr connection;  // set on success
  unsigned status = 0;                 // 502 / 504 on failure
  std::string reason;                  // upstream_ip_denied, upstream_dns_failed, ...
  std::string detail;                  // for the log line
};

// `target`: one of route.targets(); `connect_timeout` replaces the route's (health checks
// use their own).
boost::asio::awaitable<dial_outcome> dial_upstream(const config::route& route, const config::upstream_target& target,
                                                   const runtime_snapshot& snapshot,
                                                   std::optional<std::chrono::milliseconds> connect_timeout = std::nullopt);

// One active health check of `target` (route.health): dial as requests do (addresses
// checked against allowed_ips, TLS verified) within route.health.timeout, and with a path,
// GET it and take a status below 500 as healthy. `why` says what failed.
boost::asio::awaitable<bool> check_upstream(const config::route& route, const config::upstream_target& target,
                                            const runtime_snapshot& snapshot, std::string& why);

// Which pooled connections can carry a request of `route` to `target`: scheme://authority,
// or for a stdio route the channels of its bridge.
std::string pool_key_of(const config::route& route, const config::upstream_target& target);

// Idle keep-alive connections of one worker (no locking: a worker is one thread).
class upstream_pool {
 public:
  explicit upstream_pool(std::size_t max_idle_per_upstream = 64,
                         std::chrono::seconds max_idle_time = std::chrono::seconds(30))
      : max_idle_per_upstream_(max_idle_per_upstream), max_idle_time_(max_idle_time) {}

  // A pooled connection to `key` that still looks alive, or null.
  upstream_connection_ptr take(const std::string& key);
  void give_back(upstream_connection_ptr connection);
  void close_all();
  std::size_t idle_count() const;

 private:
  std::size_t max_idle_per_upstream_;
  std::chrono::seconds max_idle_time_;
  std::unordered_map<std::string, std::vector<upstream_connection_ptr>> idle_;
};

}  // namespace mcpgate::http
