// The instances of a route with several upstreams (`upstreams: [...]`): which one takes a
// new MCP session, and which are fit to. Shared by every worker (atomics, no locks on the
// data path) and kept across reloads while the route keeps the same instances.
//
// A new session goes to the healthy instance with the fewest exchanges in flight (ties
// rotate). An instance is unfit while active health checks say so (`health_check:`:
// `unhealthy_after` failures in a row, until `healthy_after` successes) or for a few
// seconds after a failed dial (passive). When none is fit the least busy one is tried
// anyway: an instance may be back before the checks notice. Requests of an existing
// session always go to the instance that holds it (see mcp/session_affinity.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "config/config.hpp"

namespace mcpgate::http {

class upstream_set {
 public:
  using clock = std::chrono::steady_clock;
  // After a failed dial, new sessions avoid the instance this long.
  static constexpr auto passive_cooldown = std::chrono::seconds(5);

  explicit upstream_set(std::size_t instances);

  std::size_t size() const { return count_; }
  std::size_t pick(clock::time_point now = clock::now());

  // Exchanges in flight on an instance (what "least busy" counts).
  void begin(std::size_t i) { slots_[i].active.fetch_add(1, std::memory_order_relaxed); }
  void end(std::size_t i) { slots_[i].active.fetch_sub(1, std::memory_order_relaxed); }
  std::uint32_t active(std::size_t i) const { return slots_[i].active.load(std::memory_order_relaxed); }

  void dial_failed(std::size_t i, clock::time_point now = clock::now());
  bool fit(std::size_t i, clock::time_point now = clock::now()) const;
  bool healthy(std::size_t i) const { return slots_[i].healthy.load(std::memory_order_relaxed); }

  // One active check's result (called by one thread only). Returns the new health when
  // this result changed it.
  std::optional<bool> record_check(std::size_t i, bool ok, const config::health_check& rule);

 private:
  struct slot {
    std::atomic<std::uint32_t> active{0};
    std::atomic<bool> healthy{true};
    std::atomic<std::int64_t> avoid_until{0};  // clock ticks; passive
    std::uint32_t failures = 0;                 // in a row (checker thread only)
    std::uint32_t successes = 0;
  };
  std::size_t count_;
  std::unique_ptr<slot[]> slots_;
  std::atomic<std::uint64_t> rotor_{0};
};

// Holds an instance busy for the life of an exchange.
class upstream_busy {
 public:
  upstream_busy(std::shared_ptr<upstream_set> set, std::size_t i) : set_(std::move(set)), i_(i) {
    if (set_) set_->begin(i_);
  }
  ~upstream_busy() {
    if (set_) set_->end(i_);
  }
  upstream_busy(const upstream_busy&) = delete;
  upstream_busy& operator=(const upstream_busy&) = delete;

 private:
  std::shared_ptr<upstream_set> set_;
  std::size_t i_;
};

}  // namespace mcpgate::http
