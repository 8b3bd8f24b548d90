// Token buckets for route `rate_limit:` rules, one bucket per key (a client, or the route).
//
// Each bucket is one number, its "theoretical arrival time" (GCRA, the cell-rate form of a
// token bucket): a request is admitted when the bucket's TAT, pushed on by one emission
// interval, stays within burst x interval of now. A bucket whose TAT has passed is full,
// which is the same as having no entry at all; such entries are what gets forgotten when
// the table is full.
//
// Memory is bounded by `max_keys` whatever the traffic: an attacker rotating source
// addresses fills the table with entries that are forgotten once full again; while the
// table is full of busy entries, new keys share one overflow bucket (so rotating
// addresses buys no extra requests). The table is split into shards, each an ordered map
// under its own mutex (ordered: lookups stay O(log n) whatever keys an attacker picks,
// which a hash table with a public hash function would not promise). Workers on different
// threads share a limiter, so a client whose connections land on different workers still
// has one bucket.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "net/ip_prefix.hpp"

namespace mcpgate::http {

class rate_limiter {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  struct verdict {
    bool admitted = true;
    std::chrono::nanoseconds retry_after{0};  // refused: when one request would be admitted
  };

  explicit rate_limiter(const config::rate_limit& spec);
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  const config::rate_limit& spec() const { return spec_; }
  // The key of a request under this limiter's key parts: `client` as access rules see it,
  // `method` / `tool` what the JSON-RPC body says ("" when not an MCP request). The route
  // part is implied: each route has its own limiter. nullopt: the limit does not apply
  // (a limit keyed by tool applies to tool calls only).
  // `caller`: the authenticated caller's label ("" when anonymous: keyed by address instead).
  std::optional<std::string> key_for(const net::ip_bytes& client, std::string_view method = {},
                                     std::string_view tool = {}, std::string_view caller = {}) const;
  // Takes one token from `key`'s bucket if it has one. A refusal takes nothing.
  verdict take(std::string_view key, time_point now = std::chrono::steady_clock::now());

  std::size_t tracked_keys() const;

 private:
  struct shard {
    mutable std::mutex mutex;
    std::map<std::string, std::int64_t, std::less<>> tat;  // ns on the steady clock
    std::int64_t last_sweep = 0;
  };
  static constexpr std::size_t shard_count = 16;

  bool admit(std::int64_t& tat, std::int64_t now, verdict& out) const;
  // Forgets the full buckets of `s` (at most once per sweep interval); under s.mutex.
  void sweep(shard& s, std::int64_t now);

  config::rate_limit spec_;
  std::int64_t interval_ns_;   // one token's worth of time: per / requests
  std::int64_t tolerance_ns_;  // burst x interval: how far ahead of now a TAT may run
  std::int64_t sweep_every_ns_;
  std::size_t shard_capacity_;
  std::array<shard, shard_count> shards_;
  std::mutex overflow_mutex_;
  std::int64_t overflow_tat_ = 0;
  std::atomic<std::int64_t> last_overflow_warning_{std::numeric_limits<std::int64_t>::min() / 2};
};

}  // namespace mcpgate::http
