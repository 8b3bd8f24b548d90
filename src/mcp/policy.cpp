#include "mcp/policy.hpp"

#include <fnmatch.h>

#include <boost/json.hpp>

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

std::vector<list_filter> list_filters(const config::mcp_policy& policy, const inspected_request& request) {
  std::vector<list_filter> out;
  for (const auto& m : request.messages) {
    if (m.kind != message_kind::request) continue;
    list_filter f{m.id, nullptr, {}, "name"};
    if (m.method == "tools/list") {
      f.rule = &policy.tools;
      f.array_key = "tools";
    } else if (m.method == "prompts/list") {
      f.rule = &policy.prompts;
      f.array_key = "prompts";
    } else if (m.method == "resources/list") {
      f.rule = &policy.resources;
      f.array_key = "resources";
      f.name_key = "uri";
    } else if (m.method == "resources/templates/list") {
      f.rule = &policy.resources;
      f.array_key = "resourceTemplates";
      f.name_key = "uriTemplate";
    }
    if (f.rule && !f.rule->empty()) out.push_back(std::move(f));
  }
  return out;
}

namespace {

// Filters one response object in place; true when it removed something.
bool filter_one(boost::json::value& message, const std::vector<list_filter>& filters, filter_outcome& outcome) {
  auto* o = message.if_object();
  if (!o) return false;
  const auto* id = o->if_contains("id");
  auto* result = o->if_contains("result");
  if (!id || !result || !result->is_object()) return false;
  const auto id_text = boost::json::serialize(*id);
  const auto f = std::find_if(filters.begin(), filters.end(), [&](const list_filter& x) { return x.id == id_text; });
  if (f == filters.end()) return false;
  auto* entries = result->get_object().if_contains(f->array_key);
  if (!entries || !entries->is_array()) return false;
  auto& list = entries->get_array();
  bool removed = false;
  for (auto it = list.begin(); it != list.end();) {
    const auto* entry = it->if_object();
    const auto* name = entry ? entry->if_contains(f->name_key) : nullptr;
    // An entry without a readable name cannot be judged: hidden (closed by default).
    const std::string text = name && name->is_string() ? std::string(name->get_string()) : std::string();
    const auto verdict = check(*f->rule, text);
    if (verdict == name_verdict::allowed) {
      ++it;
      continue;
    }
    outcome.hidden.push_back(
        {text, f->rule->where + (verdict == name_verdict::denied_by_deny ? ".deny" : ".allow"), f->rule->dry_run});
    if (f->rule->dry_run) {
      ++it;
      continue;
    }
    it = list.erase(it);
    removed = true;
  }
  return removed;
}

}  // namespace

filter_outcome filter_list_responses(std::string_view text, const std::vector<list_filter>& filters) {
  filter_outcome outcome;
  if (filters.empty()) return outcome;
  boost::system::error_code ec;
  auto document = boost::json::parse(text, ec);
  if (ec) return outcome;
  bool removed = false;
  if (auto* batch = document.if_array()) {
    for (auto& message : *batch) removed = filter_one(message, filters, outcome) || removed;
  } else {
    removed = filter_one(document, filters, outcome);
  }
  if (removed) outcome.rewritten = boost::json::serialize(document);
  return outcome;
}

}  // namespace mcpgate::mcp
