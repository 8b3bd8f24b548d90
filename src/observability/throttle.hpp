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
#include <utility>

#include <fmt/format.h>
#include <spdlog/logger.h>

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

// A line the network can make the process write again and again (a refused connection, an
// upstream that is down): written unless warnings() holds `key` back, and then with the
// count held back since. `key` names the kind of event (and the route), never a client: a
// key per client would let a spread-out flood through.
template <class... Args>
void log_throttled(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view key,
                   fmt::format_string<Args...> format, Args&&... args) {
  if (!logger.should_log(level)) return;  // a filtered line must not spend the key's budget
  const auto held = warnings().admit(key);
  if (!held) return;
  logger.log(level, "{}{}", fmt::format(format, std::forward<Args>(args)...), held_back(*held));
}

}  // namespace mcpgate::observability
