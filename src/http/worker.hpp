// One worker thread's world: its io_context, its upstream pool and the sessions it
// owns. Everything here is touched only from that thread (other threads post to `io`),
// so the hot path takes no locks.
#pragma once

#include <cstdint>
#include <unordered_set>

#include <chrono>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/snapshot.hpp"
#include "http/upstream.hpp"
#include "observability/metrics.hpp"

namespace mcpgate::http {

class downstream_session;

struct worker_stats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t exchanges = 0;
  std::uint64_t local_replies = 0;
};

class worker {
 public:
  worker(unsigned index, const snapshot_slot& current) : index_(index), current_(current) {}
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  unsigned index() const { return index_; }
  boost::asio::io_context& io() { return io_; }
  upstream_pool& pool() { return pool_; }
  worker_stats& stats() { return stats_; }
  // This thread's counts for /metrics (see observability/metrics.hpp); collected by posting.
  observability::worker_metrics& metrics() { return metrics_; }
  snapshot_ptr snapshot() const { return current_.load(std::memory_order_acquire); }

  // Draining: no new exchanges start; idle keep-alive sessions close now, busy ones
  // after their exchange. force_close_all() ends whatever is left (shutdown deadline).
  // Both run on this worker's thread (post them). When the last session ends the
  // deadline timer is cancelled, so io.run() returns as soon as the work is done.
  bool draining() const { return draining_; }
  // Starts the periodic tick that arms client-disconnect watchers (see downstream_session).
  void start_tick();
  void start_draining(std::chrono::milliseconds deadline);
  void force_close_all();
  std::size_t session_count() const { return sessions_.size(); }

  void add_session(downstream_session* s) { sessions_.insert(s); }
  void remove_session(downstream_session* s);

 private:
  unsigned index_;
  const snapshot_slot& current_;
  boost::asio::io_context io_{1};  // concurrency hint 1: one thread runs it
  upstream_pool pool_;
  worker_stats stats_;
  observability::worker_metrics metrics_;
  bool draining_ = false;
  std::optional<boost::asio::steady_timer> drain_deadline_;
  boost::asio::steady_timer tick_{io_};
  void schedule_tick();
  std::unordered_set<downstream_session*> sessions_;
};

}  // namespace mcpgate::http
