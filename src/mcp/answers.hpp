// Which JSON-RPC requests of an exchange got an answer, and which: read from the response
// as it passes through (a JSON body, or the events of an SSE stream), for the audit log.
// Observes only: the relay forwards the bytes unchanged and hands the same bytes here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "mcp/jsonrpc.hpp"
#include "mcp/sse.hpp"

namespace mcpgate::mcp {

class answer_watch {
 public:
  struct answer {
    bool error = false;
    std::optional<std::int64_t> code;  // error.code
  };

  // Watches for answers to the requests (messages with an id) of `request`.
  answer_watch(const inspected_request& request, bool event_stream);

  void feed(std::string_view bytes);
  // The response ended: a JSON body is judged now.
  void finish();
  // The answer to request `id` (JSON text, as message_info::id), if one was seen.
  const answer* answer_for(const std::string& id) const;
  // Part of the response could not be read (an answer over the size bound, a cut event):
  // a request without a seen answer may still have had one.
  bool unreadable() const { return unreadable_; }

 private:
  void take_message(std::string_view json);

  bool event_stream_;
  std::map<std::string, std::optional<answer>> answers_;  // by id; nullopt: not answered yet
  std::string body_;       // a JSON body, up to the cap
  bool body_too_big_ = false;
  bool unreadable_ = false;
  sse_reader events_;
};

}  // namespace mcpgate::mcp
