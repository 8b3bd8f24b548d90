#include "net/ip_set.hpp"

#include <algorithm>

namespace mcpgate::net {

timed_ip_set::timed_ip_set(std::vector<ip_set_entry> entries) : entries_(std::move(entries)) {
  for (const auto& e : entries_) {
    if (e.window.from) boundaries_.push_back(*e.window.from);
    if (e.window.until) boundaries_.push_back(*e.window.until);
  }
  std::sort(boundaries_.begin(), boundaries_.end());
  boundaries_.erase(std::unique(boundaries_.begin(), boundaries_.end()), boundaries_.end());
}

ip_prefix_set timed_ip_set::active_at(wall_time t) const {
  std::vector<ip_prefix> active;
  append_active(t, active);
  return ip_prefix_set(active);
}

void timed_ip_set::append_active(wall_time t, std::vector<ip_prefix>& out) const {
  out.reserve(out.size() + entries_.size());
  for (const auto& e : entries_) {
    if (e.window.contains(t)) out.push_back(e.prefix);
  }
}

std::optional<wall_time> timed_ip_set::next_change_after(wall_time t) const {
  const auto it = std::upper_bound(boundaries_.begin(), boundaries_.end(), t);
  if (it == boundaries_.end()) return std::nullopt;
  return *it;
}

std::vector<const ip_set_entry*> timed_ip_set::matches(const ip_bytes& address, wall_time t) const {
  std::vector<const ip_set_entry*> out;
  for (const auto& e : entries_) {
    if (e.window.contains(t) && e.prefix.contains(address)) out.push_back(&e);
  }
  return out;
}

}  // namespace mcpgate::net
