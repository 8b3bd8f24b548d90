// Reading a text/event-stream as it passes through (WHATWG "Server-sent events",
// "Interpreting an event stream"), to see the JSON-RPC messages an MCP server sends.
//
// An observer, not a buffer: the relay forwards every byte as it arrives and hands the
// same bytes to feed(); the reader keeps only the current line and the current event's
// fields, each bounded, and reports each event when its blank line arrives. Reads may split
// anywhere, also between the CR and LF of one line end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::mcp {

struct sse_event {
  std::string type;  // `event:`; "" when absent (clients treat it as "message")
  std::string data;  // `data:` lines joined with '\n'
  std::optional<std::string> id;
  std::optional<std::uint64_t> retry;
  // The event (its data or one of its lines) went past the reader's limit: `data` is
  // incomplete and must not be interpreted.
  bool oversized = false;
};

class sse_reader {
 public:
  using handler = std::function<void(const sse_event&)>;
  // `max_event_bytes` bounds one line and one event's data.
  explicit sse_reader(std::size_t max_event_bytes = 4 * 1024 * 1024);

  // Consumes the next bytes of the stream; calls `on_event` for every event they complete
  // (events with at least one data line, as browsers dispatch them).
  void feed(std::string_view bytes, const handler& on_event);

  // The last event id seen (an `id:` line sets it even without data), as a client's
  // Last-Event-ID would carry it.
  const std::optional<std::string>& last_event_id() const { return last_id_; }
  // Bytes held between calls (the incomplete line and event): what a quiet stream costs.
  std::size_t held_bytes() const { return line_.capacity() + data_.capacity() + type_.capacity(); }

 private:
  void take_line(std::string_view line, const handler& on_event);
  void append_to_line(std::string_view piece);
  void dispatch(const handler& on_event);

  std::size_t max_;
  std::string line_;  // the current line's bytes so far (without its line end)
  bool line_oversized_ = false;
  bool after_cr_ = false;         // the last byte was a CR: an LF next ends nothing new
  std::size_t bom_matched_ = 0;   // bytes of a leading UTF-8 BOM seen (3: decided)
  std::string type_;
  std::string data_;
  bool has_data_ = false;
  bool oversized_ = false;
  std::optional<std::string> id_;  // set by this event's id: line
  std::optional<std::uint64_t> retry_;
  std::optional<std::string> last_id_;
};

}  // namespace mcpgate::mcp
