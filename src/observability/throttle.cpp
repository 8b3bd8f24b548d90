#include "observability/throttle.hpp"

#include <functional>

namespace mcpgate::observability {

std::optional<std::uint64_t> log_throttle::admit(std::string_view key, time_point now) {
  auto& s = slots_[std::hash<std::string_view>{}(key) % slots_.size()];
  const std::int64_t t = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  auto last = s.last.load(std::memory_order_relaxed);
  if (t - last >= interval_ns_ && s.last.compare_exchange_strong(last, t, std::memory_order_relaxed)) {
    return s.held.exchange(0, std::memory_order_relaxed);
  }
  s.held.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

log_throttle& warnings() {
  static log_throttle throttle(std::chrono::seconds(1));
  return throttle;
}

std::string held_back(std::uint64_t count) {
  return count == 0 ? std::string() : " (" + std::to_string(count) + " similar held back)";
}

}  // namespace mcpgate::observability
