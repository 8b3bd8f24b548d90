// MCP's legacy HTTP+SSE transport (protocol revision 2024-11-05) behind a route that strips
// its path prefix (`strip_path: true`).
//
// The client opens `GET <prefix>/sse`; the upstream sees `GET /sse` and answers with an
// event stream whose first event is `event: endpoint`, `data: /message?sessionId=...`:
// where the client must POST its messages. That URL names the upstream's path space (or,
// from some servers, the upstream's own origin), which the client cannot reach. The
// gateway rewrites that one kind of event so that the client posts back through the
// prefix; every other byte of the stream passes unchanged.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "mcp/sse.hpp"

namespace mcpgate::mcp {

// The `data` of an `endpoint` event as the client must see it, or nullopt to leave it as
// it is:
// - a path-absolute URL ("/message?sessionId=1") gets `prefix` in front
//   ("/everything/message?sessionId=1");
// - an absolute http(s) URL whose origin is the upstream's (scheme, host and port, the
//   port defaulting to the scheme's; IP literals compared as addresses, names without
//   case) becomes that path-absolute form with the prefix ("http://10.0.0.5:3001/message?
//   sessionId=1" -> "/everything/message?sessionId=1");
// - anything else stays: another origin, a relative path ("message?x", which the client
//   resolves against its own /everything/sse already), a network-path "//host/x", user
//   info, spaces or control characters, several lines, text that is not a URL.
// `prefix` is a route path ("/everything", no trailing '/'); "/" changes nothing.
std::optional<std::string> rewrite_endpoint(std::string_view data, std::string_view prefix,
                                            const config::upstream_target& upstream);

// Relays an upstream text/event-stream read by read, rewriting `endpoint` events with
// rewrite_endpoint() and passing every other block byte for byte (mcp::sse_parser). A
// complete event leaves with the read that completes it; only an incomplete event's bytes
// wait for the rest of it. An event larger than `max_event_bytes` ends the parsing: from
// its first byte on, the stream passes through unchanged.
//
// `prefix` and `upstream` must outlive the rewriter (they live in the exchange's snapshot).
class endpoint_rewriter {
 public:
  static constexpr std::size_t default_max_event_bytes = 1024 * 1024;

  endpoint_rewriter(std::string_view prefix, const config::upstream_target& upstream,
                    std::size_t max_event_bytes = default_max_event_bytes);

  // Takes the next bytes of the stream (`end`: the stream ends with them) and returns what
  // to send to the client now: possibly nothing (an event still incomplete), possibly more
  // than `bytes` (an event completed, a rewritten URL). At `end`, an incomplete last block
  // is returned as it came.
  std::string feed(std::string_view bytes, bool end);

  // Endpoint events rewritten so far.
  std::size_t rewritten() const { return rewritten_; }
  // Parsing stopped (an event too large): everything is passed through as it comes.
  bool passing_through() const { return passing_through_; }
  // Heap bytes held between reads: 0 at an event boundary.
  std::size_t held_bytes() const { return parser_.held_bytes(); }

 private:
  std::string_view prefix_;
  const config::upstream_target& upstream_;
  sse_parser parser_;
  void pass(std::string& out, std::string_view bytes);

  std::size_t rewritten_ = 0;
  bool passing_through_ = false;
  bool drop_lf_ = false;    // a rewritten block ended with a CR: an LF next is its line end's
  bool passed_cr_ = false;  // the bytes passed on last ended with a CR
};

}  // namespace mcpgate::mcp
