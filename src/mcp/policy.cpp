#include "mcp/policy.hpp"

#include <fnmatch.h>

#include <algorithm>

namespace mcpgate::mcp {

namespace {

bool matches_any(const std::vector<config::name_rule::pattern>& patterns, const std::string& name) {
  // No FNM_PATHNAME: `*` also matches '/', so "file:///srv/*" covers a whole tree.
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const auto& p) { return ::fnmatch(p.glob.c_str(), name.c_str(), 0) == 0; });
}

}  // namespace

name_verdict check(const config::name_rule& rule, std::string_view name) {
  if (rule.empty()) return name_verdict::allowed;
  const std::string text(name);  // fnmatch wants NUL-terminated strings
  if (matches_any(rule.deny, text)) return name_verdict::denied_by_deny;
  if (!rule.allow.empty() && !matches_any(rule.allow, text)) return name_verdict::denied_by_allow;
  return name_verdict::allowed;
}

const config::name_rule* rule_for_call(const config::mcp_policy& policy, std::string_view method) {
  if (method == "tools/call") return &policy.tools;
  if (method == "prompts/get") return &policy.prompts;
  if (method == "resources/read" || method == "resources/subscribe" || method == "resources/unsubscribe") {
    return &policy.resources;
  }
  return nullptr;
}

std::optional<call_refusal> refused_call(const config::mcp_policy& policy, const message_info& message) {
  // A call sent as a notification (no id) is judged too: a server may run it anyway.
  if (message.kind == message_kind::response) return std::nullopt;
  const auto* rule = rule_for_call(policy, message.method);
  if (!rule || rule->empty()) return std::nullopt;
  const auto verdict = check(*rule, message.name);
  if (verdict == name_verdict::allowed) return std::nullopt;
  call_refusal out;
  out.rule = rule->where + (verdict == name_verdict::denied_by_deny ? ".deny" : ".allow");
  if (rule == &policy.tools) {
    out.code = -32602;
    out.message = "Unknown tool: " + message.name;
  } else if (rule == &policy.prompts) {
    out.code = -32602;
    out.message = "Unknown prompt: " + message.name;
  } else {
    out.code = -32002;
    out.message = "Resource not found: " + message.name;
  }
  return out;
}

}  // namespace mcpgate::mcp
