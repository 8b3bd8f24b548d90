#include "http/access_policy.hpp"

#include <vector>

#include <spdlog/spdlog.h>

#include "observability/throttle.hpp"
#include "observability/log.hpp"

namespace mcpgate::http {

std::optional<std::string> refusal(const compiled_access_rule& rule, const net::ip_bytes& address,
                                   std::string_view client) {
  const auto verdict = rule.check(address);
  if (verdict == access_verdict::allowed) return std::nullopt;
  const bool by_deny = verdict == access_verdict::denied_by_deny;
  std::string part = rule.where + (by_deny ? ".deny" : ".allow");
  if (const auto& counter = by_deny ? rule.deny_counter : rule.allow_counter) {
    ++(rule.dry_run ? counter->dry_run : counter->refused);
  }
  if (!rule.dry_run) return part;
  if (auto held = observability::warnings().admit(part)) {
    log::http().warn("ip rule would deny (dry run) client={} rule={}{}", client, part, observability::held_back(*held));
  }
  return std::nullopt;
}

ip_set_map build_ip_sets(const config::config& cfg) {
  ip_set_map out;
  for (const auto& set : cfg.ip_sets) out.emplace(set.name, net::timed_ip_set(set.entries));
  return out;
}

namespace {

net::ip_prefix_set active_prefixes(const std::vector<config::access_rule::reference>& refs, const ip_set_map& sets,
                                   net::wall_time now) {
  std::vector<net::ip_prefix> prefixes;
  for (const auto& ref : refs) {
    if (ref.prefix) {
      prefixes.push_back(*ref.prefix);
      continue;
    }
    const auto it = sets.find(ref.set);
    if (it != sets.end()) it->second.append_active(now, prefixes);  // the loader refuses unknown names
  }
  return net::ip_prefix_set(prefixes);
}

}  // namespace

compiled_access_rule compile_access_rule(const config::access_rule& rule, const ip_set_map& sets, net::wall_time now,
                                         policy_state* state) {
  compiled_access_rule out;
  out.present = !rule.empty();
  out.allow = active_prefixes(rule.allow, sets, now);
  out.deny = active_prefixes(rule.deny, sets, now);
  out.has_allow = !rule.allow.empty();
  out.action = rule.action;
  out.dry_run = rule.dry_run;
  out.where = rule.where;
  if (state && out.present) {
    out.allow_counter = state->counter(rule.where + ".allow");
    out.deny_counter = state->counter(rule.where + ".deny");
  }
  return out;
}

std::optional<net::wall_time> next_access_change(const config::config& cfg, const ip_set_map& sets,
                                                 net::wall_time now) {
  std::optional<net::wall_time> next;
  auto consider = [&](const config::access_rule& rule) {
    for (const auto* refs : {&rule.allow, &rule.deny}) {
      for (const auto& ref : *refs) {
        const auto it = sets.find(ref.set);
        if (ref.prefix || it == sets.end()) continue;
        if (auto t = it->second.next_change_after(now); t && (!next || *t < *next)) next = t;
      }
    }
  };
  for (const auto& l : cfg.listeners) consider(l.access);
  for (const auto& r : cfg.routes) consider(r.access);
  return next;
}

}  // namespace mcpgate::http
