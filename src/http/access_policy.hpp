// Client-address rules (listener and route `allow` / `deny`), compiled for one instant.
//
// A runtime_snapshot compiles every rule once: the named ip_sets entries active now plus
// the rule's literal prefixes become one allow and one deny ip_prefix_set, so a check is
// two binary searches whatever the size of the sets (100,000 CIDRs included). When an
// entry's window opens or closes, the gateway builds a new snapshot (next_change).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "http/policy_state.hpp"
#include "net/ip_prefix.hpp"
#include "net/ip_set.hpp"

namespace mcpgate::http {

enum class access_verdict { allowed, denied_by_deny, denied_by_allow };

struct compiled_access_rule {
  bool present = false;  // the config has a rule here at all
  net::ip_prefix_set allow;
  net::ip_prefix_set deny;
  bool has_allow = false;  // an allow list was written (even one whose entries all expired)
  config::access_rule::deny_action action = config::access_rule::deny_action::forbidden;
  bool dry_run = false;
  std::string where;  // "routes.echo", "listeners[0]"
  // Refusals by each list (null when compiled without a policy_state: diagnostics).
  std::shared_ptr<decision_counter> allow_counter;
  std::shared_ptr<decision_counter> deny_counter;

  access_verdict check(const net::ip_bytes& address) const {
    if (!present) return access_verdict::allowed;
    if (deny.contains(address)) return access_verdict::denied_by_deny;
    if (has_allow && !allow.contains(address)) return access_verdict::denied_by_allow;
    return access_verdict::allowed;
  }
};

// The part of `rule` that refuses `address` ("routes.echo.allow", "listeners[0].deny"), or
// nullopt when the client may go on. A dry-run rule logs its would-be refusal (naming
// `client`) and lets the client go on. Either way the rule's counter counts it.
std::optional<std::string> refusal(const compiled_access_rule& rule, const net::ip_bytes& address,
                                   std::string_view client);

using ip_set_map = std::map<std::string, net::timed_ip_set>;

ip_set_map build_ip_sets(const config::config& cfg);
// `state` (optional) provides the rule's decision counters.
compiled_access_rule compile_access_rule(const config::access_rule& rule, const ip_set_map& sets, net::wall_time now,
                                         policy_state* state = nullptr);
// The next instant after `now` at which any set used by a rule changes, if ever.
std::optional<net::wall_time> next_access_change(const config::config& cfg, const ip_set_map& sets, net::wall_time now);

}  // namespace mcpgate::http
