#include "http/upstream_set.hpp"

#include <limits>

namespace mcpgate::http {

upstream_set::upstream_set(std::size_t instances) : count_(instances), slots_(new slot[instances]) {}

std::size_t upstream_set::pick(clock::time_point now) {
  const auto start = rotor_.fetch_add(1, std::memory_order_relaxed);
  std::size_t best = count_;
  std::size_t best_any = 0;
  std::uint32_t best_load = std::numeric_limits<std::uint32_t>::max();
  std::uint32_t best_any_load = std::numeric_limits<std::uint32_t>::max();
  for (std::size_t k = 0; k < count_; ++k) {
    const std::size_t i = (start + k) % count_;
    const auto load = active(i);
    if (load < best_any_load) {
      best_any_load = load;
      best_any = i;
    }
    if (fit(i, now) && load < best_load) {
      best_load = load;
      best = i;
    }
  }
  return best < count_ ? best : best_any;
}

void upstream_set::dial_failed(std::size_t i, clock::time_point now) {
  slots_[i].avoid_until.store((now + passive_cooldown).time_since_epoch().count(), std::memory_order_relaxed);
}

bool upstream_set::fit(std::size_t i, clock::time_point now) const {
  return healthy(i) && slots_[i].avoid_until.load(std::memory_order_relaxed) <= now.time_since_epoch().count();
}

std::optional<bool> upstream_set::record_check(std::size_t i, bool ok, const config::health_check& rule) {
  auto& s = slots_[i];
  const bool was = s.healthy.load(std::memory_order_relaxed);
  if (ok) {
    s.failures = 0;
    ++s.successes;
    if (!was && s.successes >= rule.healthy_after) {
      s.healthy.store(true, std::memory_order_relaxed);
      s.avoid_until.store(0, std::memory_order_relaxed);
      return true;
    }
  } else {
    s.successes = 0;
    ++s.failures;
    if (was && s.failures >= rule.unhealthy_after) {
      s.healthy.store(false, std::memory_order_relaxed);
      return false;
    }
  }
  return std::nullopt;
}

}  // namespace mcpgate::http
