#include "http/policy_state.hpp"

#include <fmt/format.h>

#include "http/rate_limiter.hpp"
#include "http/upstream_set.hpp"
#include "mcp/session_affinity.hpp"

namespace mcpgate::http {

std::shared_ptr<decision_counter> policy_state::counter(const std::string& rule) {
  std::lock_guard lock(mutex_);
  auto& slot = counters_[rule];
  if (!slot) slot = std::make_shared<decision_counter>();
  return slot;
}

std::shared_ptr<rate_limiter> policy_state::limiter(const config::rate_limit& spec) {
  std::string identity = fmt::format("{} {}/{} burst {} v4/{} v6/{} max {}", spec.where, spec.requests,
                                     spec.per.count(), spec.burst, spec.ipv4_prefix, spec.ipv6_prefix, spec.max_keys);
  for (const auto part : spec.key) identity += fmt::format(" {}", config::to_string(part));
  std::lock_guard lock(mutex_);
  std::erase_if(limiters_, [](const auto& entry) { return entry.second.expired(); });
  auto& slot = limiters_[identity];
  if (auto existing = slot.lock()) return existing;
  auto made = std::make_shared<rate_limiter>(spec);
  slot = made;
  return made;
}

std::shared_ptr<upstream_set> policy_state::upstreams(const config::route& route) {
  std::string identity = route.name;
  for (const auto& t : route.instances) identity += " " + t.to_string();
  std::lock_guard lock(mutex_);
  std::erase_if(upstream_sets_, [](const auto& entry) { return entry.second.expired(); });
  auto& slot = upstream_sets_[identity];
  if (auto existing = slot.lock()) return existing;
  auto made = std::make_shared<upstream_set>(route.instances.size());
  slot = made;
  return made;
}

const std::string& policy_state::process_affinity_key() {
  std::lock_guard lock(mutex_);
  if (affinity_key_.empty()) affinity_key_ = mcp::random_affinity_key();
  return affinity_key_;
}

std::vector<decision_count> policy_state::decision_counts() const {
  std::lock_guard lock(mutex_);
  std::vector<decision_count> out;
  for (const auto& [rule, c] : counters_) out.push_back({rule, c->refused.load(), c->dry_run.load()});
  return out;
}

}  // namespace mcpgate::http
