// Route tool / prompt / resource rules applied to JSON-RPC messages: which calls the
// gateway refuses itself, and (response side) which list entries clients get to see.
#pragma once

#include <optional>
#include <vector>
#include <string>
#include <string_view>

#include "auth/identity.hpp"
#include "config/config.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcpgate::mcp {

enum class name_verdict { allowed, denied_by_deny, denied_by_allow };

// Patterns with conditions on the caller count only when `who` meets them (null: an
// anonymous caller, who meets none).
name_verdict check(const config::name_rule& rule, std::string_view name, const auth::identity* who = nullptr);

// The rules that judge `who`'s calls and lists besides the route's: an API key's tools.
const config::name_rule* caller_tools_rule(const auth::identity* who);

// The rule of `policy` that governs a request `method` (tools/call -> tools, prompts/get ->
// prompts, resources/read|subscribe|unsubscribe -> resources), or null when the method
// names nothing a rule covers.
const config::name_rule* rule_for_call(const config::mcp_policy& policy, std::string_view method);

// What the gateway says instead of forwarding a refused call: JSON-RPC's "unknown" error for
// that kind of thing (-32602 for tools and prompts, -32002 for resources), so a refused tool
// looks like one the server does not have, which is also what tools/list shows.
struct call_refusal {
  int code;
  std::string message;  // "Unknown tool: write_file"
  std::string rule;     // "routes.files.tools.allow": for logs and counters, never sent
  bool dry_run = false;  // the rule only reports
};
std::optional<call_refusal> refused_call(const config::mcp_policy& policy, const message_info& message,
                                        const auth::identity* who = nullptr);

// A list request whose result must be filtered (tools/list, prompts/list, resources/list,
// resources/templates/list under a non-empty rule): the response with `id` gets the
// entries of result.<array_key> whose <name_key> the rule refuses removed.
struct list_filter {
  std::string id;  // JSON text, as message_info::id
  const config::name_rule* rule;
  std::string_view array_key;  // "tools"
  std::string_view name_key;   // "name"
  const auth::identity* who = nullptr;               // the caller, for conditions; outlives the exchange's filters
  const config::name_rule* caller_rule = nullptr;    // judged after `rule`: the caller's own tools (API key)
};
std::vector<list_filter> list_filters(const config::mcp_policy& policy, const inspected_request& request,
                                      const auth::identity* who = nullptr);

// What filtering one JSON text (a response, or a batch of them) did.
struct hidden_entry {
  std::string name;
  std::string rule;  // "routes.files.tools.allow"
  bool dry_run;      // left in place: the rule only reports
};
struct filter_outcome {
  std::optional<std::string> rewritten;  // the new text; nullopt: nothing removed, send the original bytes
  std::vector<hidden_entry> hidden;
};
// `text` that is not JSON, or holds no response a filter names, comes back unchanged.
filter_outcome filter_list_responses(std::string_view text, const std::vector<list_filter>& filters);
// The same for a whole text/event-stream body (the answer to one POST): each event whose
// data is a response a filter names is rewritten (as one `data:` line); every other byte
// stays as it was. Lines may end in CRLF, LF or CR.
filter_outcome filter_list_events(std::string_view stream, const std::vector<list_filter>& filters);

// filter_list_events for an SSE answer relayed as it arrives: every complete event is
// judged and sent at once; only an incomplete one waits for its end. Events before the
// list answer (the server's notifications or requests) are not held back by it.
class list_event_filter {
 public:
  list_event_filter(std::vector<list_filter> filters, std::size_t max_event_bytes);
  // What to send now (`end`: the stream ends with `bytes`; an unterminated last block goes
  // as it came, as filter_list_events does). Hidden entries are added to `outcome.hidden`.
  // nullopt: one event grew past max_event_bytes; its entries cannot be judged, so the
  // caller must cut the stream rather than pass it on.
  std::optional<std::string> feed(std::string_view bytes, bool end, filter_outcome& outcome);

 private:
  std::vector<list_filter> filters_;
  std::size_t max_event_bytes_;
  std::string pending_;        // from the start of the first incomplete event
  std::size_t scanned_ = 0;    // lines of pending_ before this offset are scanned (no blank one)
};

}  // namespace mcpgate::mcp
