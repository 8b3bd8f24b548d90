// The gateway process: worker threads, listeners, the current config snapshot, reload
// and graceful shutdown. `mcpgate gateway` and the integration tests both drive this.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "http/policy_state.hpp"
#include "http/snapshot.hpp"
#include "http/worker.hpp"

namespace mcpgate::stdio {
class bridge_registry;
}
namespace mcpgate::tunnel {
class connector;
}
namespace mcpgate::observability {
class admin_server;
class worker_metrics;
}

namespace mcpgate::app {

struct bound_listener {
  config::listener config;
  boost::asio::ip::tcp::endpoint endpoint;  // actual address (port 0 resolved)
};

class gateway {
 public:
  // Throws std::runtime_error when the config cannot be served as written (an unreadable
  // certificate, a listener mode this build cannot serve).
  explicit gateway(std::shared_ptr<const config::config> cfg);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Binds every listener on every worker (SO_REUSEPORT) and starts the worker threads.
  // Throws std::runtime_error naming the address when a bind fails.
  void start();
  const std::vector<bound_listener>& listeners() const { return bound_; }

  // Swaps in a new config. Returns false (and keeps the old one, with the reason in
  // `error`) if the new one cannot be used. Live exchanges keep their old snapshot.
  bool reload(std::shared_ptr<const config::config> cfg, std::string& error);
  http::snapshot_ptr snapshot() const { return current_.load(); }

  // Stops accepting, lets in-flight exchanges finish for up to `timeout`, then closes
  // what is left and joins the workers. Idempotent.
  void shutdown(std::chrono::milliseconds timeout);

  // Checks every listener's certificate and key files now and loads them if they changed
  // (what the poll timer does every tls.poll_interval). Returns how many were reloaded.
  std::size_t poll_certificates();
  // How many times a listener's certificate was replaced without a restart (poll or reload).
  std::uint64_t certificate_reloads() const { return certificate_reloads_.load(); }
  // What each access rule, rate limit and connection limit refused so far (dry-run rules:
  // what they would have refused), by rule; kept across reloads.
  std::vector<http::decision_count> decision_counts() const { return policy_->decision_counts(); }
  // Live stdio server processes (all routes).
  std::size_t stdio_process_count() const;

  // The admin listener's address (port 0 resolved); nullopt without `admin:`.
  std::optional<boost::asio::ip::tcp::endpoint> admin_endpoint() const;
  // A SIGHUP whose config did not load (reload() was never called): kept for /metrics and
  // the status page's reload history, as reload() keeps its own outcomes.
  void note_failed_reload(const std::string& error);
  // What the admin pages say (control thread; see gateway_admin.cpp).
  boost::asio::awaitable<std::string> metrics_text();
  boost::asio::awaitable<std::string> status_json();
  std::string not_ready() const;

 private:
  struct listener_slot;
  void schedule_certificate_poll();
  // ip_sets windows: a new snapshot (same config) when an entry starts or stops matching.
  void schedule_access_rebuild();
  void rebuild_for_time();
  // Active health checks of the current snapshot's routes (on the control thread); a
  // reload starts new ones and the old ones end.
  void start_health_checks();
  boost::asio::awaitable<void> check_route_health(http::snapshot_ptr snap, std::size_t route_index, std::uint64_t epoch);
  // Starts the stdio bridge thread the first time a config has a stdio route.
  void ensure_stdio_bridges(const config::config& cfg);
  // `tunnel:`: a connector on a thread of its own, its streams to one of our listeners.
  void start_tunnel(const config::tunnel_connector& settings);
  // `admin:` on the control thread, and the status page's traffic sampler.
  void start_admin(const config::config& cfg);
  void schedule_traffic_sample();
  void record_reload(bool ok, std::string error);
  // Every worker's counts added up (and the tunnel connector's live connections), copied on
  // each worker's own thread. Control thread.
  struct collected;
  boost::asio::awaitable<std::shared_ptr<collected>> collect();
  // Each listener's TLS context as loaded now (null for plain ones), by listener index.
  std::vector<std::shared_ptr<boost::asio::ssl::context>> listener_tls_contexts() const;

  // Housekeeping off the data path (certificate polling, health checks, issuer key
  // fetches): its own thread and io_context. Declared first so it outlives the snapshots,
  // whose key sources keep timers on it.
  boost::asio::io_context control_{1};
  // Counters and rate-limit buckets, kept across snapshots (declared before current_:
  // snapshots hold pieces of it).
  std::shared_ptr<http::policy_state> policy_ = std::make_shared<http::policy_state>();
  std::shared_ptr<stdio::bridge_registry> stdio_;  // null until a route is a stdio server
  http::snapshot_slot current_;
  std::uint64_t generation_ = 0;
  std::vector<std::unique_ptr<http::worker>> workers_;
  std::vector<std::shared_ptr<listener_slot>> slots_;
  std::vector<bound_listener> bound_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
  boost::asio::steady_timer certificate_timer_{control_};
  boost::asio::steady_timer access_timer_{control_};
  std::mutex snapshot_mutex_;  // reload() vs rebuild_for_time(): one writer of current_ at a time
  std::thread control_thread_;
  std::mutex certificates_mutex_;  // poll_certificates() vs reload()
  std::atomic<std::uint64_t> certificate_reloads_{0};
  std::atomic<std::uint64_t> health_epoch_{0};
  // The in-process tunnel connector (null without `tunnel:`); its own io_context so it can
  // drain (GOAWAY) while the workers finish their exchanges.
  std::unique_ptr<boost::asio::io_context> tunnel_io_;
  std::unique_ptr<tunnel::connector> tunnel_;
  std::thread tunnel_thread_;
  std::atomic<std::uint64_t> tunnel_connects_{0};
  std::atomic<std::uint64_t> tunnel_refusals_{0};  // the edge refused the token (rotated, archived, ...)
  std::string tunnel_domain_;  // what the edge says the tunnel serves
  std::optional<std::chrono::system_clock::time_point> tunnel_connected_at_;  // the latest connection

  // Admin: the listener, and what it reports beyond the workers' counts.
  std::unique_ptr<observability::admin_server> admin_;
  std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();
  struct reload_event {
    std::chrono::system_clock::time_point time;
    bool ok = false;
    std::string error;
  };
  mutable std::mutex admin_mutex_;  // the reload history (reload() runs on the caller's thread), the tunnel's domain
  std::deque<reload_event> reloads_;  // newest first, bounded
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  std::chrono::system_clock::time_point config_loaded_at_ = started_at_;
  std::atomic<bool> serving_{false};  // start() bound every listener, shutdown() not begun
  // Control thread only: the status page's traffic (one sample per step), and what the
  // health checks last said of each route's instances (by route name).
  struct traffic_sample {
    double time = 0;
    std::uint64_t requests = 0, errors = 0, denied = 0;
  };
  std::deque<traffic_sample> traffic_;
  traffic_sample traffic_totals_;
  boost::asio::steady_timer traffic_timer_{control_};
  std::map<std::string, std::vector<std::optional<bool>>> upstream_health_;
};

}  // namespace mcpgate::app
