// Fuzz target for what MCP routes read out of client and upstream JSON: the request
// inspector (method, id, name, routing-header checks) and the list filter that rewrites
// tools/list answers. Never crashes; a rewritten answer is valid JSON that holds none of
// the names the rule hides; the gateway's own error bodies are always valid JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "mcp/jsonrpc.hpp"
#include "mcp/jsonrpc_error.hpp"
#include "mcp/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcpgate;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const auto request = mcp::inspect_request(text);
  if (!request.ok() && request.error.empty()) __builtin_trap();
  if (request.ok() && request.messages.empty()) __builtin_trap();
  for (const auto& m : request.messages) {
    // The header a client would send for this body never mismatches it.
    // (A method that itself looks like the base64 sentinel would be sent encoded.)
    if (request.batch || m.method.empty() || m.method.starts_with("=?base64?")) continue;
    const auto mismatch = mcp::routing_header_mismatch(request, {m.method, {}, {}});
    if (m.method.find_first_of("\r\n") == std::string::npos && mismatch) __builtin_trap();
  }
  (void)mcp::decode_header_value(text);

  // The id of every request message, echoed in a gateway error, stays valid JSON.
  for (const auto& m : request.messages) {
    const auto body = mcp::jsonrpc_error_body({.message = text, .reason = "fuzz", .id_json = m.id});
    boost::system::error_code ec;
    (void)boost::json::parse(body, ec);
    if (ec) __builtin_trap();
  }

  config::mcp_policy policy;
  policy.tools.deny.push_back({"w*"});
  policy.tools.where = "fuzz.tools";
  policy.resources.allow.push_back({"file:///srv/*"});
  policy.resources.where = "fuzz.resources";
  std::vector<mcp::list_filter> filters{{"1", &policy.tools, "tools", "name"},
                                        {"\"r\"", &policy.resources, "resources", "uri"}};
  const auto outcome = mcp::filter_list_responses(text, filters);
  if (outcome.rewritten) {
    boost::system::error_code ec;
    const auto doc = boost::json::parse(*outcome.rewritten, ec);
    if (ec) __builtin_trap();
    // Filtering again finds nothing more to hide.
    if (mcp::filter_list_responses(*outcome.rewritten, filters).rewritten) __builtin_trap();
  }

  // The same input as an SSE stream: filtering again changes nothing more, and a stream
  // the filter leaves alone is not rewritten.
  const auto events = mcp::filter_list_events(text, filters);
  if (events.rewritten) {
    if (mcp::filter_list_events(*events.rewritten, filters).rewritten) __builtin_trap();
  } else if (!events.hidden.empty() && !policy.tools.dry_run) {
    __builtin_trap();
  }
  // Streamed in two pieces (split where the input's length says), the relay's filter sends
  // exactly what the whole-stream filter makes.
  const std::size_t cut = text.empty() ? 0 : text.size() * static_cast<unsigned char>(text[0]) / 256;
  mcp::list_event_filter streamed(filters, 1 << 20);
  mcp::filter_outcome streamed_outcome;
  const auto first = streamed.feed(text.substr(0, cut), false, streamed_outcome);
  const auto second = streamed.feed(text.substr(cut), true, streamed_outcome);
  if (!first || !second) __builtin_trap();  // inputs are far below the bound
  if (*first + *second != (events.rewritten ? *events.rewritten : std::string(text))) __builtin_trap();
  return 0;
}
