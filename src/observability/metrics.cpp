#include "observability/metrics.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace mcpgate::observability {

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Names a method's calls carry that are worth a label: bounded per route (see header).
bool method_names_something(std::string_view method) {
  return method == "tools/call" || method == "prompts/get" || method == "resources/read";
}

}  // namespace

void latency_histogram::observe(std::chrono::microseconds elapsed) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(elapsed.count(), 0));
  const auto it = std::lower_bound(latency_bounds_us.begin(), latency_bounds_us.end(), us);
  ++buckets[static_cast<std::size_t>(it - latency_bounds_us.begin())];
  ++count;
  sum_us += us;
}

void latency_histogram::add(const latency_histogram& other) {
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  count += other.count;
  sum_us += other.sum_us;
}

std::string_view status_class(unsigned status) {
  switch (status / 100) {
    case 1: return "1xx";
    case 2: return "2xx";
    case 3: return "3xx";
    case 4: return "4xx";
    case 5: return "5xx";
    default: return "none";
  }
}

bool is_denial(std::string_view reason) {
  static constexpr std::array<std::string_view, 8> denials{"ip_denied",     "origin_denied",  "rate_limited",
                                                           "tool_denied",   "batch_refused",  "client_connection_limit",
                                                           "listener_full", "session_unknown"};
  // The auth reasons say the caller was refused, except those that say the gateway could
  // not judge (no keys yet, introspection endpoint down): errors of ours, answered 503.
  if (reason.starts_with("auth_")) return reason != "auth_keys_unavailable" && reason != "auth_introspection_unavailable";
  return std::find(denials.begin(), denials.end(), reason) != denials.end();
}

bool is_error(unsigned status, std::string_view reason) {
  if (reason == "client_disconnected" || reason == "client_aborted") return false;
  if (status >= 500) return true;
  // Cut after the header went out: the status says 200, the client got half an answer.
  return reason == "upstream_reset" || reason == "stream_idle_timeout" || reason == "upstream_response_too_large";
}

std::string_view method_label(std::string_view method) {
  static constexpr std::array<std::string_view, 28> known{
      "initialize",           "ping",
      "tools/list",           "tools/call",
      "prompts/list",         "prompts/get",
      "resources/list",       "resources/templates/list",
      "resources/read",       "resources/subscribe",
      "resources/unsubscribe", "completion/complete",
      "logging/setLevel",     "roots/list",
      "sampling/createMessage", "elicitation/create",
      "tasks/get",            "tasks/list",
      "tasks/result",         "tasks/cancel",
      "notifications/initialized", "notifications/cancelled",
      "notifications/progress", "notifications/roots/list_changed",
      "notifications/message", "notifications/resources/updated",
      "notifications/tools/list_changed", "notifications/prompts/list_changed"};
  if (!method.empty() && method.back() == '+') method.remove_suffix(1);  // a batch: its first message's
  const auto it = std::find(known.begin(), known.end(), method);
  return it == known.end() ? std::string_view("other") : *it;
}

void route_metrics::add(const route_metrics& other) {
  for (const auto& o : other.outcomes) {
    auto it = std::find_if(outcomes.begin(), outcomes.end(), [&](const outcome& mine) {
      return mine.status_class == o.status_class && mine.reason == o.reason;
    });
    if (it == outcomes.end()) outcomes.push_back(o);
    else it->count += o.count;
  }
  duration.add(other.duration);
  upstream_header.add(other.upstream_header);
  bytes_in += other.bytes_in;
  bytes_out += other.bytes_out;
  errors += other.errors;
  denied += other.denied;
  for (const auto& [key, count] : other.mcp) mcp[key] += count;
}

worker_metrics::worker_metrics(const worker_metrics& other)
    : routes(other.routes),
      connection_refusals(other.connection_refusals),
      sse_streams(other.sse_streams),
      tls_handshake_failures(other.tls_handshake_failures),
      open_connections(other.open_connections),
      accepted_connections(other.accepted_connections),
      denials(other.denials) {
  totals_.requests.store(other.totals_.requests.load(std::memory_order_relaxed), std::memory_order_relaxed);
  totals_.errors.store(other.totals_.errors.load(std::memory_order_relaxed), std::memory_order_relaxed);
  totals_.denied.store(other.totals_.denied.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void worker_metrics::record_exchange(const access_record& log, std::optional<std::chrono::microseconds> upstream_header) {
  auto& r = routes[log.route];
  const auto cls = status_class(log.status);
  auto it = std::find_if(r.outcomes.begin(), r.outcomes.end(), [&](const route_metrics::outcome& o) {
    return o.status_class == cls && o.reason == log.reason;
  });
  if (it == r.outcomes.end()) r.outcomes.push_back({cls, log.reason, 1});
  else ++it->count;
  r.duration.observe(log.duration);
  if (upstream_header) r.upstream_header.observe(*upstream_header);
  r.bytes_in += log.bytes_in;
  r.bytes_out += log.bytes_out;
  if (!log.mcp_method.empty()) {
    const auto method = method_label(log.mcp_method);
    std::string key(method);
    key += '\n';
    if (method_names_something(method) && !log.mcp_name.empty()) {
      std::string named = key + log.mcp_name;
      const bool known = r.mcp.contains(named);
      if (known || r.names < max_names_per_route) {
        if (!known) ++r.names;
        key = std::move(named);
      } else {
        key += "other";
      }
    }
    ++r.mcp[key];
  }
  bump(totals_.requests);
  if (is_error(log.status, log.reason)) {
    ++r.errors;
    bump(totals_.errors);
  }
  if (is_denial(log.reason)) {
    ++r.denied;
    bump(totals_.denied);
    note_denial(log);
  }
}

void worker_metrics::record_connection_refusal(const access_record& log) {
  ++connection_refusals[log.reason];
  bump(totals_.denied);
  note_denial(log);
}

void worker_metrics::note_denial(const access_record& log) {
  if (denials.size() == recent_denials) denials.pop_front();
  denials.push_back({unix_now(), log.reason, log.client, log.route, log.rule});
}

void worker_metrics::add(const worker_metrics& other) {
  for (const auto& [name, r] : other.routes) routes[name].add(r);
  for (const auto& [reason, count] : other.connection_refusals) connection_refusals[reason] += count;
  sse_streams += other.sse_streams;
  tls_handshake_failures += other.tls_handshake_failures;
  open_connections += other.open_connections;
  accepted_connections += other.accepted_connections;
}

std::vector<denial_record> merge_denials(const std::vector<const std::deque<denial_record>*>& lists,
                                         std::size_t limit) {
  std::vector<denial_record> all;
  for (const auto* list : lists) all.insert(all.end(), list->begin(), list->end());
  std::stable_sort(all.begin(), all.end(), [](const denial_record& a, const denial_record& b) { return a.time > b.time; });
  if (all.size() > limit) all.resize(limit);
  return all;
}

// ---- exposition ----------------------------------------------------------------------

void exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void exposition::write_labels(labels label_set, std::string_view extra_name, std::string_view extra_value) {
  if (label_set.size() == 0 && extra_name.empty()) return;
  out_ += '{';
  bool first = true;
  auto one = [&](std::string_view name, std::string_view value) {
    if (!first) out_ += ',';
    first = false;
    out_ += name;
    out_ += "=\"";
    // The format's escapes: backslash, double quote, line feed.
    for (char c : value) {
      if (c == '\\') out_ += "\\\\";
      else if (c == '"') out_ += "\\\"";
      else if (c == '\n') out_ += "\\n";
      else out_ += c;
    }
    out_ += '"';
  };
  for (const auto& [name, value] : label_set) one(name, value);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out_ += '}';
}

void exposition::sample(std::string_view name, labels label_set, double value) {
  out_ += name;
  write_labels(label_set);
  if (std::isnan(value)) out_ += " NaN\n";
  else if (std::isinf(value)) out_ += value > 0 ? " +Inf\n" : " -Inf\n";
  else fmt::format_to(std::back_inserter(out_), " {}\n", value);
}

void exposition::sample(std::string_view name, labels label_set, std::uint64_t value) {
  out_ += name;
  write_labels(label_set);
  fmt::format_to(std::back_inserter(out_), " {}\n", value);
}

void exposition::histogram(std::string_view name, std::string_view label, std::string_view label_value,
                           const latency_histogram& h) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    const std::string le = i < latency_bounds_us.size()
                               ? fmt::format("{}", static_cast<double>(latency_bounds_us[i]) / 1e6)
                               : std::string("+Inf");
    fmt::format_to(std::back_inserter(out_), "{}_bucket", name);
    write_labels({{label, label_value}}, "le", le);
    fmt::format_to(std::back_inserter(out_), " {}\n", cumulative);
  }
  fmt::format_to(std::back_inserter(out_), "{}_sum", name);
  write_labels({{label, label_value}});
  fmt::format_to(std::back_inserter(out_), " {}\n", static_cast<double>(h.sum_us) / 1e6);
  fmt::format_to(std::back_inserter(out_), "{}_count", name);
  write_labels({{label, label_value}});
  fmt::format_to(std::back_inserter(out_), " {}\n", h.count);
}

}  // namespace mcpgate::observability
