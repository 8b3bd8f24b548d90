#include "mcp/policy.hpp"

#include <fnmatch.h>

#include <boost/json.hpp>

#include <algorithm>

namespace mcpgate::mcp {

namespace {

bool matches_any(const std::vector<config::name_rule::pattern>& patterns, const std::string& name,
                 const auth::identity& who) {
  // No FNM_PATHNAME: `*` also matches '/', so "file:///srv/*" covers a whole tree.
  return std::any_of(patterns.begin(), patterns.end(), [&](const auto& p) {
    return ::fnmatch(p.glob.c_str(), name.c_str(), 0) == 0 && auth::meets(p.caller, who);
  });
}

}  // namespace

name_verdict check(const config::name_rule& rule, std::string_view name, const auth::identity* who) {
  if (rule.empty()) return name_verdict::allowed;
  static const auth::identity anonymous;
  const auto& caller = who ? *who : anonymous;
  const std::string text(name);  // fnmatch wants NUL-terminated strings
  if (matches_any(rule.deny, text, caller)) return name_verdict::denied_by_deny;
  if (!rule.allow.empty() && !matches_any(rule.allow, text, caller)) return name_verdict::denied_by_allow;
  return name_verdict::allowed;
}

const config::name_rule* caller_tools_rule(const auth::identity* who) {
  if (!who || !who->key || who->key->tools.empty()) return nullptr;
  return &who->key->tools;
}

const config::name_rule* rule_for_call(const config::mcp_policy& policy, std::string_view method) {
  if (method == "tools/call") return &policy.tools;
  if (method == "prompts/get") return &policy.prompts;
  if (method == "resources/read" || method == "resources/subscribe" || method == "resources/unsubscribe") {
    return &policy.resources;
  }
  return nullptr;
}

std::optional<call_refusal> refused_call(const config::mcp_policy& policy, const message_info& message,
                                        const auth::identity* who) {
  // A call sent as a notification (no id) is judged too: a server may run it anyway.
  if (message.kind == message_kind::response) return std::nullopt;
  const auto* rule = rule_for_call(policy, message.method);
  if (!rule) return std::nullopt;
  auto verdict = check(*rule, message.name, who);
  if (verdict == name_verdict::allowed && rule == &policy.tools) {
    if (const auto* own = caller_tools_rule(who)) {
      verdict = check(*own, message.name, who);
      rule = own;
    }
  }
  if (verdict == name_verdict::allowed) return std::nullopt;
  call_refusal out;
  out.rule = rule->where + (verdict == name_verdict::denied_by_deny ? ".deny" : ".allow");
  out.dry_run = rule->dry_run;
  if (rule == &policy.tools || rule == caller_tools_rule(who)) {
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

std::vector<list_filter> list_filters(const config::mcp_policy& policy, const inspected_request& request,
                                      const auth::identity* who) {
  std::vector<list_filter> out;
  for (const auto& m : request.messages) {
    if (m.kind != message_kind::request) continue;
    list_filter f{m.id, nullptr, {}, "name", who};
    if (m.method == "tools/list") {
      f.rule = &policy.tools;
      f.array_key = "tools";
      f.caller_rule = caller_tools_rule(who);
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
    if (f.rule && (!f.rule->empty() || f.caller_rule)) out.push_back(std::move(f));
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
    const auto* rule = f->rule;
    auto verdict = check(*rule, text, f->who);
    if (verdict == name_verdict::allowed && f->caller_rule) {
      rule = f->caller_rule;
      verdict = check(*rule, text, f->who);
    }
    if (verdict == name_verdict::allowed) {
      ++it;
      continue;
    }
    outcome.hidden.push_back(
        {text, rule->where + (verdict == name_verdict::denied_by_deny ? ".deny" : ".allow"), rule->dry_run});
    if (rule->dry_run) {
      ++it;
      continue;
    }
    it = list.erase(it);
    removed = true;
  }
  return removed;
}

}  // namespace

namespace {

// The next line of `text` from `at`: its content and where the following line starts.
struct line {
  std::string_view content;
  std::size_t next;
};
line next_line(std::string_view text, std::size_t at) {
  const auto end = text.find_first_of("\r\n", at);
  if (end == std::string_view::npos) return {text.substr(at), text.size()};
  const std::size_t after = text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n' ? end + 2 : end + 1;
  return {text.substr(at, end - at), after};
}

// One event block (its lines through the blank line) filtered: the rewritten block, or
// nullopt when it stays as it was.
std::optional<std::string> filter_event(std::string_view block, const std::vector<list_filter>& filters,
                                        filter_outcome& outcome) {
  std::string data;
  bool has_data = false;
  for (std::size_t at = 0; at < block.size();) {
    const auto l = next_line(block, at);
    at = l.next;
    if (l.content.substr(0, 5) != "data:" && l.content != "data") continue;
    auto value = l.content.substr(std::min<std::size_t>(5, l.content.size()));
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (has_data) data += '\n';
    data += value;
    has_data = true;
  }
  if (!has_data) return std::nullopt;
  auto filtered = filter_list_responses(data, filters);
  outcome.hidden.insert(outcome.hidden.end(), filtered.hidden.begin(), filtered.hidden.end());
  if (!filtered.rewritten) return std::nullopt;
  // Every line but the data lines as it was; the new data (JSON: no line breaks) in their place.
  std::string out;
  bool data_written = false;
  for (std::size_t at = 0; at < block.size();) {
    const auto l = next_line(block, at);
    const bool is_data = l.content.substr(0, 5) == "data:" || l.content == "data";
    if (!is_data) {
      out.append(block.substr(at, l.next - at));
    } else if (!data_written) {
      out += "data: " + *filtered.rewritten + "\n";
      data_written = true;
    }
    at = l.next;
  }
  return out;
}

}  // namespace

filter_outcome filter_list_events(std::string_view stream, const std::vector<list_filter>& filters) {
  filter_outcome outcome;
  if (filters.empty()) return outcome;
  std::string out;
  bool changed = false;
  std::size_t block_start = 0;
  for (std::size_t at = 0; at < stream.size();) {
    const auto l = next_line(stream, at);
    at = l.next;
    if (!l.content.empty()) continue;  // (an empty line is always a terminated one)
    // A blank line: the block [block_start, at) is one event.
    const auto block = stream.substr(block_start, at - block_start);
    if (auto rewritten = filter_event(block, filters, outcome)) {
      out += *rewritten;
      changed = true;
    } else {
      out.append(block);
    }
    block_start = at;
  }
  out.append(stream.substr(block_start));  // an unterminated last block: passed on as it came
  if (changed) outcome.rewritten = std::move(out);
  return outcome;
}

list_event_filter::list_event_filter(std::vector<list_filter> filters, std::size_t max_event_bytes)
    : filters_(std::move(filters)), max_event_bytes_(max_event_bytes) {}

std::optional<std::string> list_event_filter::feed(std::string_view bytes, bool end, filter_outcome& outcome) {
  pending_.append(bytes);
  const std::string_view text = pending_;
  // The end of the last complete event (just after its blank line). A CR as the very last
  // byte may be the first half of a CRLF: that line waits for the next byte.
  std::size_t complete = 0;
  std::size_t at = scanned_;
  while (at < text.size()) {
    const auto l = next_line(text, at);
    const bool terminated = l.next < text.size() || text.back() == '\n' || (end && text.back() == '\r');
    if (!terminated) break;
    at = l.next;
    if (l.content.empty()) complete = at;
  }
  scanned_ = at;
  std::string out;
  if (complete > 0) {
    const auto events = text.substr(0, complete);
    auto filtered = filter_list_events(events, filters_);
    outcome.hidden.insert(outcome.hidden.end(), filtered.hidden.begin(), filtered.hidden.end());
    out = filtered.rewritten ? std::move(*filtered.rewritten) : std::string(events);
    pending_.erase(0, complete);
    scanned_ -= complete;
  }
  if (end) {
    out += pending_;
    pending_.clear();
    scanned_ = 0;
  } else if (pending_.size() > max_event_bytes_) {
    return std::nullopt;
  }
  return out;
}

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
