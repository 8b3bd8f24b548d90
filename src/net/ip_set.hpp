// Named IP allow/deny sets whose entries may have a time window (`from` / `until`), e.g.
// Claude's legacy addresses that must stop matching on a given date.
//
// Lookups never scan entries: the entries active at one instant are folded into an
// ip_prefix_set (sorted merged ranges, O(log n) per lookup), and the owner rebuilds that
// set when the next window boundary passes (next_change_after tells when). Diagnostics
// (`allowlist check`, validate's expiry warnings) walk the entries; requests never do.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "net/ip_prefix.hpp"

namespace mcpgate::net {

using wall_time = std::chrono::system_clock::time_point;

// [from, until): an absent bound is open. Both absent: always.
struct time_window {
  std::optional<wall_time> from;
  std::optional<wall_time> until;
  bool contains(wall_time t) const { return (!from || *from <= t) && (!until || t < *until); }
  bool expired_at(wall_time t) const { return until && *until <= t; }
};

struct ip_set_entry {
  ip_prefix prefix;
  time_window window;
  std::string origin;  // where it was written ("ip_sets.claude[1]"), for messages
};

class timed_ip_set {
 public:
  timed_ip_set() = default;
  explicit timed_ip_set(std::vector<ip_set_entry> entries);

  const std::vector<ip_set_entry>& entries() const { return entries_; }
  // The prefixes whose window contains `t`, ready for O(log n) lookups.
  ip_prefix_set active_at(wall_time t) const;
  // The same prefixes appended to `out`, for a rule that unions several sets and literals.
  void append_active(wall_time t, std::vector<ip_prefix>& out) const;
  // The first window boundary strictly after `t` (an entry starting or expiring), or
  // nullopt when the active set never changes again.
  std::optional<wall_time> next_change_after(wall_time t) const;
  // Entries containing `address` whose window contains `t` (diagnostics; linear).
  std::vector<const ip_set_entry*> matches(const ip_bytes& address, wall_time t) const;

 private:
  std::vector<ip_set_entry> entries_;
  std::vector<wall_time> boundaries_;  // every from/until, sorted, unique
};

}  // namespace mcpgate::net
