// The per-exchange policy decisions of a downstream session that are plain computation:
// rate limits, MCP call rules, hidden list entries, audit records. (The coroutines that read
// and write stay in proxy_session.cpp.)
#include <spdlog/spdlog.h>

#include "http/proxy_session.hpp"
#include "http/snapshot.hpp"
#include "mcp/jsonrpc_error.hpp"
#include "observability/audit.hpp"
#include "observability/throttle.hpp"
#include "observability/log.hpp"

namespace mcpgate::http {

std::optional<std::uint64_t> downstream_session::rate_limited(const runtime_snapshot& snap, const config::route& route,
                                                              observability::access_record& log,
                                                              const mcp::inspected_request* inspected) {
  // Rate limits run after auth: log.caller is the authenticated caller's label.
  // A batch is keyed by its first message (batches left the protocol in 2025-06-18).
  const mcp::message_info* first = inspected && !inspected->messages.empty() ? &inspected->messages.front() : nullptr;
  for (const auto& limit : snap.rate_limits_of(route)) {
    const auto key = limit.limiter->key_for(exchange_address_, first ? std::string_view(first->method) : std::string_view(),
                                            first ? std::string_view(first->name) : std::string_view(), log.caller);
    if (!key) continue;  // keyed by something this request does not have (a tool, for a non-call)
    const auto verdict = limit.limiter->take(*key);
    if (verdict.admitted) continue;
    if (limit.spec->dry_run) {
      ++limit.counter->dry_run;
      if (auto held = observability::warnings().admit(limit.spec->where)) {
        log::http().warn("rate limit would refuse (dry run) client={} rule={}{}", exchange_client_, limit.spec->where,
                         observability::held_back(*held));
      }
      continue;
    }
    ++limit.counter->refused;
    log.rule = limit.spec->where;
    // Whole seconds (the header's unit), rounded up: a client that waits that long gets in.
    constexpr std::int64_t ns_per_second = 1'000'000'000;
    const auto ns = verdict.retry_after.count();
    return static_cast<std::uint64_t>(std::max<std::int64_t>(1, (ns + ns_per_second - 1) / ns_per_second));
  }
  return std::nullopt;
}

std::optional<std::string> downstream_session::refused_calls(const runtime_snapshot& snap, const config::route& route,
                                                             const mcp::inspected_request& inspected,
                                                             const auth::identity& caller,
                                                             observability::access_record& log) {
  // A batch holding one refused call is refused whole: every request in it gets an error
  // (forwarding part of a batch would need its responses merged back; batches left the
  // protocol in 2025-06-18 and no current client sends them).
  std::vector<std::optional<mcp::call_refusal>> verdicts;
  bool any_refused = false;
  for (const auto& m : inspected.messages) {
    auto refusal = mcp::refused_call(route.policy, m, &caller);
    if (refusal) {
      auto& counter = *snap.policy->counter(refusal->rule);
      if (refusal->dry_run) {
        ++counter.dry_run;
        if (auto held = observability::warnings().admit(refusal->rule)) {
          log::http().warn("mcp rule would refuse (dry run) client={} rule={} method={} name={}{}", exchange_client_,
                           refusal->rule, m.method, m.name, observability::held_back(*held));
        }
        refusal.reset();
      } else {
        ++counter.refused;
        any_refused = true;
        if (log.rule.empty()) log.rule = refusal->rule;
      }
    }
    verdicts.push_back(std::move(refusal));
  }
  if (!any_refused) return std::nullopt;
  std::vector<mcp::gateway_error> errors;
  // Only notifications refused: nothing to answer, so they are accepted and dropped (202).
  for (std::size_t i = 0; i < inspected.messages.size(); ++i) {
    const auto& m = inspected.messages[i];
    if (m.kind != mcp::message_kind::request) continue;  // notifications and responses get no answer
    const auto& refusal = verdicts[i];
    if (refusal) {
      errors.push_back({.message = refusal->message, .reason = "tool_denied", .id_json = m.id, .code = refusal->code});
    } else {
      errors.push_back({.message = "Batch refused: it holds a call this gateway does not allow",
                        .reason = "batch_refused",
                        .id_json = m.id});
    }
  }
  if (errors.empty()) return std::string();
  return inspected.batch ? mcp::jsonrpc_error_batch(errors) : mcp::jsonrpc_error_body(errors.front());
}

void downstream_session::note_hidden(const runtime_snapshot& snap, const mcp::filter_outcome& outcome) {
  for (const auto& entry : outcome.hidden) {
    auto& counter = *snap.policy->counter(entry.rule);
    if (!entry.dry_run) {
      ++counter.refused;
      continue;
    }
    ++counter.dry_run;
    if (auto held = observability::warnings().admit(entry.rule)) {
      log::http().warn("mcp rule would hide (dry run) client={} rule={} name={}{}", exchange_client_, entry.rule, entry.name,
                       observability::held_back(*held));
    }
  }
}

void downstream_session::write_audit_records(const runtime_snapshot& snap, const mcp_exchange& mcp,
                                             const observability::access_record& log) const {
  const auto& settings = snap.cfg->audit;
  const bool answered_by_gateway = log.upstream.empty() || !log.reason.empty();
  for (std::size_t i = 0; i < mcp.request->messages.size(); ++i) {
    const auto& m = mcp.request->messages[i];
    if (m.kind == mcp::message_kind::response) continue;  // the client answering the server
    observability::audit_record r;
    r.route = log.route;
    r.client = log.client;
    r.session = log.mcp_session;
    r.caller = log.caller;
    r.method = m.method;
    r.name = m.name;
    r.id = m.id;
    r.status = log.status;
    r.duration = log.duration;
    r.bytes_in = log.bytes_in;
    r.bytes_out = log.bytes_out;
    if (answered_by_gateway && !log.reason.empty()) {
      r.outcome = "refused";
      r.reason = log.reason;
      if (log.reason == "tool_denied" && mcp.route) {
        const auto refusal = mcp::refused_call(mcp.route->policy, m, &mcp.caller);
        r.error_code = refusal ? refusal->code : mcp::gateway_error_code;
        if (!refusal) r.reason = "batch_refused";
      } else {
        r.error_code = log.reason == "invalid_jsonrpc" ? mcp.request->error_code
                       : log.reason == "mcp_header_mismatch" ? mcp::header_mismatch
                                                              : mcp::gateway_error_code;
      }
    } else if (m.kind == mcp::message_kind::notification) {
      r.outcome = log.status >= 200 && log.status < 300 ? "accepted" : "no_answer";
    } else if (const auto* answer = mcp.answers ? mcp.answers->answer_for(m.id) : nullptr) {
      r.outcome = answer->error ? "error" : "result";
      r.error_code = answer->code;
    } else {
      r.outcome = mcp.answers && !mcp.answers->unreadable() ? "no_answer" : "unknown";
      r.reason = log.reason;
    }
    if (settings.log_arguments) {
      if (const auto* args = mcp::arguments_of(*mcp.request, i)) {
        r.arguments = observability::audit_arguments(*args, settings, r.arguments_truncated);
      }
    }
    observability::write_audit(r);
  }
}

}  // namespace mcpgate::http
