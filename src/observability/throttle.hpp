// Repeated warnings (an upstream that is down, a dry-run rule under a flood) must not flood
// the log: at most one line per key per interval, and the next line says how many similar
// ones were held back. Lock-free: workers call it on the data path.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::observability {

class log_throttle {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  explicit log_throttle(std::chrono::milliseconds interval) : interval_ns_(interval.count() * 1'000'000) {}

  // nullopt: hold this line back. Otherwise write it: the value is how many lines of this
  // key were held back since the last one written.
  std::optional<std::uint64_t> admit(std::string_view key, time_point now = std::chrono::steady_clock::now());

 private:
  struct slot {
    std::atomic<std::int64_t> last{std::numeric_limits<std::int64_t>::min() / 2};
    std::atomic<std::uint64_t> held{0};
  };
  // Keys share slots by hash: two keys in one slot share one budget, which only makes the
  // log quieter, never louder.
  std::array<slot, 1024> slots_;
  std::int64_t interval_ns_;
};

// The process's throttle for warnings: one line per key per second.
log_throttle& warnings();
// " (12 similar held back)", or "" for 0.
std::string held_back(std::uint64_t count);

}  // namespace mcpgate::observability
