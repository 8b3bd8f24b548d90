#include "mcp/answers.hpp"

#include <boost/json.hpp>

namespace mcpgate::mcp {

namespace {
// Answers bigger than this are passed on but not judged (the audit says "unknown").
constexpr std::size_t max_judged_bytes = 1024 * 1024;
}  // namespace

answer_watch::answer_watch(const inspected_request& request, bool event_stream)
    : event_stream_(event_stream), events_(max_judged_bytes) {
  for (const auto& m : request.messages) {
    if (m.kind == message_kind::request) answers_.emplace(m.id, std::nullopt);
  }
}

void answer_watch::feed(std::string_view bytes) {
  if (answers_.empty()) return;
  if (event_stream_) {
    events_.feed(bytes, [this](const sse_event& e) {
      if (e.oversized) unreadable_ = true;
      else take_message(e.data);
    });
    return;
  }
  if (body_too_big_) return;
  if (body_.size() + bytes.size() > max_judged_bytes) {
    body_too_big_ = true;
    unreadable_ = true;
    std::string().swap(body_);
    return;
  }
  body_.append(bytes);
}

void answer_watch::finish() {
  if (!event_stream_ && !body_too_big_ && !body_.empty()) take_message(body_);
  std::string().swap(body_);
}

void answer_watch::take_message(std::string_view json) {
  // Most events of a long answer are notifications (progress, logging): without an "id"
  // key there is nothing to judge, and no reason to parse.
  if (json.find("\"id\"") == std::string_view::npos) return;
  boost::system::error_code ec;
  const auto document = boost::json::parse(json, ec);
  if (ec) {
    unreadable_ = true;
    return;
  }
  auto judge = [this](const boost::json::value& v) {
    const auto* o = v.if_object();
    const auto* id = o ? o->if_contains("id") : nullptr;
    if (!id || o->contains("method")) return;  // a request or notification from the server
    const auto it = answers_.find(boost::json::serialize(*id));
    if (it == answers_.end()) return;
    answer a;
    if (const auto* error = o->if_contains("error")) {
      a.error = true;
      if (const auto* code = error->is_object() ? error->get_object().if_contains("code") : nullptr; code && code->is_int64()) {
        a.code = code->get_int64();
      }
    } else if (!o->contains("result")) {
      return;
    }
    it->second = a;
  };
  if (const auto* batch = document.if_array()) {
    for (const auto& v : *batch) judge(v);
  } else {
    judge(document);
  }
}

const answer_watch::answer* answer_watch::answer_for(const std::string& id) const {
  const auto it = answers_.find(id);
  return it != answers_.end() && it->second ? &*it->second : nullptr;
}

}  // namespace mcpgate::mcp
