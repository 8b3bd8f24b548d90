#include "http/rate_limiter.hpp"
#include "observability/log.hpp"

#include <algorithm>
#include <functional>

#include <spdlog/spdlog.h>

namespace mcpgate::http {

namespace {

std::int64_t nanoseconds_of(rate_limiter::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

constexpr std::int64_t one_second_ns = 1'000'000'000;
// A full table is swept for idle entries at most this often, so an attacker filling it
// with busy keys cannot make every request pay for a sweep.
constexpr std::int64_t max_sweep_interval_ns = one_second_ns;
constexpr std::int64_t overflow_warning_interval_ns = 60 * one_second_ns;

}  // namespace

rate_limiter::rate_limiter(const config::rate_limit& spec) : spec_(spec) {
  const auto per_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(spec_.per).count();
  interval_ns_ = std::max<std::int64_t>(1, per_ns / std::max<std::uint32_t>(1, spec_.requests));
  tolerance_ns_ = interval_ns_ * std::max<std::uint32_t>(1, spec_.burst);
  sweep_every_ns_ = std::min(max_sweep_interval_ns, tolerance_ns_);
  shard_capacity_ = std::max<std::size_t>(1, (spec_.max_keys + shard_count - 1) / shard_count);
}

std::optional<std::string> rate_limiter::key_for(const net::ip_bytes& client, std::string_view method,
                                                 std::string_view tool, std::string_view caller) const {
  std::string key;
  for (const auto part : spec_.key) {
    switch (part) {
      case config::rate_limit::key_part::client_ip: {
        const auto network = net::client_network(client, spec_.ipv4_prefix, spec_.ipv6_prefix);
        key.append(reinterpret_cast<const char*>(network.data()), network.size());
        break;
      }
      case config::rate_limit::key_part::route:
        break;  // the limiter belongs to one route
      case config::rate_limit::key_part::tool:
        if (method != "tools/call") return std::nullopt;
        key += tool;
        key += '\0';  // ends the part, so ("ab", "c") and ("a", "bc") differ
        break;
      case config::rate_limit::key_part::mcp_method:
        if (method.empty()) return std::nullopt;
        key += method;
        key += '\0';
        break;
      case config::rate_limit::key_part::caller:
        if (caller.empty()) {
          // Anonymous callers share their network's bucket; the marker keeps it apart from labels.
          const auto network = net::client_network(client, spec_.ipv4_prefix, spec_.ipv6_prefix);
          key += '\1';
          key.append(reinterpret_cast<const char*>(network.data()), network.size());
        } else {
          key += caller;
        }
        key += '\0';
        break;
    }
  }
  return key;
}

bool rate_limiter::admit(std::int64_t& tat, std::int64_t now, verdict& out) const {
  const std::int64_t next = std::max(tat, now) + interval_ns_;
  if (next - now > tolerance_ns_) {
    out.admitted = false;
    out.retry_after = std::chrono::nanoseconds(next - tolerance_ns_ - now);
    return false;
  }
  tat = next;
  return true;
}

void rate_limiter::sweep(shard& s, std::int64_t now) {
  if (now - s.last_sweep < sweep_every_ns_) return;
  s.last_sweep = now;
  std::erase_if(s.tat, [now](const auto& entry) { return entry.second <= now; });
}

rate_limiter::verdict rate_limiter::take(std::string_view key, time_point when) {
  const std::int64_t now = nanoseconds_of(when);
  verdict out;
  auto& s = shards_[std::hash<std::string_view>{}(key) % shard_count];
  {
    std::lock_guard lock(s.mutex);
    auto it = s.tat.find(key);
    if (it != s.tat.end()) {
      admit(it->second, now, out);
      return out;
    }
    if (s.tat.size() >= shard_capacity_) sweep(s, now);
    if (s.tat.size() < shard_capacity_) {
      std::int64_t tat = now;
      if (admit(tat, now, out)) s.tat.emplace(std::string(key), tat);
      return out;
    }
  }
  // Full of busy keys: new keys share one bucket rather than each getting a fresh one.
  auto last = last_overflow_warning_.load(std::memory_order_relaxed);
  if (now - last >= overflow_warning_interval_ns && last_overflow_warning_.compare_exchange_strong(last, now)) {
    log::http().warn("rate limit table full rule={} max_keys={}: new clients share one bucket until idle ones are forgotten",
                     spec_.where, spec_.max_keys);
  }
  std::lock_guard lock(overflow_mutex_);
  admit(overflow_tat_, now, out);
  return out;
}

std::size_t rate_limiter::tracked_keys() const {
  std::size_t total = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    total += s.tat.size();
  }
  return total;
}

}  // namespace mcpgate::http
