// Reading a text/event-stream as it passes through (WHATWG "Server-sent events",
// "Interpreting an event stream"), to see the JSON-RPC messages an MCP server sends.
//
// Two readers of the same format, for two jobs:
// - sse_reader, an observer: the relay forwards every byte as it arrives and hands the same
//   bytes to feed(); the reader keeps only the current line and the current event's fields,
//   each bounded, and reports each event (with data) when its blank line arrives.
// - sse_parser, for a relay that may rewrite events: it cuts the stream into blocks (one
//   event's lines through the blank line that ends it) and hands back each block's exact
//   bytes next to its fields, so a block left alone is forwarded byte for byte and a
//   rewritten one is replaced by serialize_sse_event().
// Both accept reads split anywhere, also between the CR and LF of one line end.
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
  std::string data;  // `data:` lines joined with '\n' (no trailing newline)
  // This event's `id:` (the last one without NUL). A client's last event id changes even
  // when the event has no data; "" (a bare `id`) resets it.
  std::optional<std::string> id;
  std::optional<std::uint64_t> retry;  // `retry:` made of ASCII digits only
  // (sse_reader) The event (its data or one of its lines) went past the reader's limit:
  // `data` is incomplete and must not be interpreted. sse_parser never sets it: it stops.
  bool oversized = false;
  // (sse_parser) The block's exact bytes, from its first byte through the line end of the
  // blank line that closed it: comments, unknown fields and a leading BOM included.
  std::string_view raw{};
  // At least one data line, even an empty one. Browsers dispatch only such events; blocks
  // without are still reported by sse_parser so that their bytes can be passed on.
  bool has_data = false;
  // (sse_parser) No field line at all: only comments (keep-alives like ": ping"), or nothing
  // (a lone blank line). Nothing to inspect, forward `raw`.
  bool only_comments = false;
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

// Cuts a text/event-stream into blocks as the bytes arrive, for a relay that forwards each
// block untouched (`raw`) or rewritten. Usage, per read from upstream:
//
//   if (!parser.feed(bytes)) { /* drain next(), then relay pending() and the rest unparsed */ }
//   while (auto e = parser.next()) forward(needs_rewrite(*e) ? serialize_sse_event(*e) : e->raw);
//   ... at the end of the stream: forward(parser.pending());
//
// Over a whole stream, the `raw` of every block in order followed by pending() is exactly
// the bytes fed. A block is available from next() as soon as its blank line has been fed;
// nothing complete is held back. One deviation in `raw` only: when a blank line's CR is the
// last byte of a read, its block is complete at once, and an LF opening the next read (the
// second half of that CRLF) becomes the first byte of the following block, where parsing
// skips it. Fields never depend on how the stream was split.
//
// Costs: complete blocks are not copied (`raw` points into the bytes given to feed(), or
// into the parser for a block that spanned reads); the parser keeps only the incomplete
// last block, bounded by max_event_bytes, and frees its buffer when that is empty. Each byte
// is scanned for line ends when fed, and a block's lines once more by next().
class sse_parser {
 public:
  // `max_event_bytes` bounds one block's raw size (comments and line ends included; the
  // closing blank line's CRLF counts as one byte), complete or not, so that a block is
  // refused whatever the reads' sizes.
  explicit sse_parser(std::size_t max_event_bytes);

  // Takes the next bytes of the stream. They must stay valid and unchanged until next()
  // returns nullopt (or, when the caller calls feed() again before that, until that call
  // returns: blocks not taken yet are then copied). The incomplete tail is copied at once.
  // Returns false, from the block that exceeds max_event_bytes on, for good: next() still
  // returns the blocks before it, and pending() holds every byte from that block's start to
  // the end of this feed; the caller relays those and everything after unparsed. Later
  // feed() calls keep nothing and return false.
  bool feed(std::string_view bytes);

  // The next complete block, or nullopt. Its `raw` stays valid until the next call to
  // next() or feed().
  std::optional<sse_event> next();

  // The bytes after the last complete block: what a relay passes on at the end of the
  // stream. Valid until the next feed(); after a failed feed(), the bytes not parsed.
  std::string_view pending() const { return std::string_view(buf_).substr(buf_complete_); }
  // Bytes copied into the parser and not yet returned by next() (the incomplete block,
  // and a block completed by the last feed until next() takes it).
  std::size_t buffered() const { return buf_.size() - buf_taken_; }
  // Heap bytes held between reads: 0 for a stream at an event boundary.
  std::size_t held_bytes() const;
  // Why feed() returned false; "" while it has not.
  std::string_view error() const { return error_; }
  // The id a reconnecting client would send as Last-Event-ID, after the blocks returned.
  const std::optional<std::string>& last_event_id() const { return last_id_; }

 private:
  void drop_taken();
  void release_if_empty();

  std::size_t max_;
  // buf_[0, buf_taken_): blocks already returned; [buf_taken_, buf_complete_): complete
  // blocks not returned yet; [buf_complete_, size): the incomplete tail (or, after a failure,
  // the bytes not parsed).
  std::string buf_;
  std::size_t buf_taken_ = 0;
  std::size_t buf_complete_ = 0;
  std::string_view input_;  // complete blocks of the caller's bytes, after those in buf_
  // Where the scan of the tail stopped, so that a block fed in many pieces is scanned once.
  bool line_empty_ = true;      // no content on the current line yet: a line end now is a blank line
  bool scan_after_cr_ = false;  // the last byte scanned was a CR: an LF next is the same line end
  std::size_t bom_matched_ = 0; // bytes of a stream-opening BOM seen; 3 (or a mismatch) decides
  bool bom_decided_ = false;
  bool lead_lf_ = false;        // the tail opens with the LF of the CRLF that closed the block before
  // The parsing side, one block behind.
  bool first_block_ = true;      // the next block opens the stream: it may start with a BOM
  bool parse_after_cr_ = false;  // the last block returned ended with CR: skip an LF opening the next
  std::string error_;
  std::optional<std::string> last_id_;
};

// An event as text/event-stream lines, for a rewritten block: "event: <type>\n" when type
// is not "", "data: <line>\n" for each line of `data` (split at CR, LF and CRLF) when
// has_data or data is not "", "id: <id>\n", "retry: <n>\n", then the blank line. `raw`,
// `oversized` and `only_comments` are not read. type and id cannot hold a line end: from
// the first CR or LF on they are left out (a parsed event never has one), so that no
// value can add lines of its own. Parsing the result gives back type, data, id and retry.
std::string serialize_sse_event(const sse_event& event);

}  // namespace mcpgate::mcp
