// What the gateway reads out of a JSON-RPC request body on an MCP route: parsed once,
// then published to every later filter (tool policy, rate-limit keys, access and audit
// logs) so none of them parses again or trusts a header alone.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::mcp {

enum class message_kind { request, notification, response };

// One JSON-RPC message as the gateway's filters see it.
struct message_info {
  message_kind kind = message_kind::request;
  std::string method;  // requests and notifications
  // The id as JSON text ("1", "\"a\""), "" for notifications. Echoed verbatim in replies
  // the gateway makes for this request.
  std::string id;
  // What the method acts on: tools/call and prompts/get -> params.name; resources/read,
  // resources/subscribe and resources/unsubscribe -> params.uri. "" otherwise.
  std::string name;
  // params._meta["io.modelcontextprotocol/protocolVersion"] (stateless 2026-07-28 revision).
  std::string meta_protocol_version;
};

}  // namespace mcpgate::mcp

namespace boost::json {
class value;
}

namespace mcpgate::mcp {

struct inspected_request {
  // JSON-RPC error code when the body is not what an MCP route accepts: -32700 (not JSON)
  // or -32600 (JSON, but not JSON-RPC 2.0 messages). 0: fine.
  int error_code = 0;
  std::string error;  // human text for the error reply and the log
  bool batch = false;  // a JSON array of messages (2025-03-26 revision)
  std::vector<message_info> messages;
  // The parsed body, kept for what later readers need beyond the fields above (the audit
  // log's arguments); null when the body did not parse.
  std::shared_ptr<const boost::json::value> document;
  bool ok() const { return error_code == 0; }
};

// The arguments of message `index` of `request` (params.arguments of tools/call and
// prompts/get, else params), or null.
const boost::json::value* arguments_of(const inspected_request& request, std::size_t index);

constexpr int parse_error = -32700;
constexpr int invalid_request = -32600;
constexpr int header_mismatch = -32020;  // 2026-07-28: Mcp-Method / Mcp-Name disagree with the body

// Parses a POST body. Never throws; nesting depth is bounded by Boost.JSON's default (32)
// plus our own walk, which reads only the fields above.
inspected_request inspect_request(std::string_view body);

// The value of an Mcp-Name / Mcp-Method header: plain ASCII, or "=?base64?<b64>?=" for
// values that are not (the 2026-07-28 sentinel). nullopt: a malformed sentinel.
std::optional<std::string> decode_header_value(std::string_view header);

// The stateless revision's routing headers must say what the body says; a gateway that
// decided on headers alone would be spoofable. Checked only for headers that are present
// (an absent header is the upstream's business). Returns why they disagree, or nullopt.
struct routing_headers {
  std::string_view method;            // Mcp-Method
  std::string_view name;              // Mcp-Name
  std::string_view protocol_version;  // MCP-Protocol-Version
};
std::optional<std::string> routing_header_mismatch(const inspected_request& request, const routing_headers& headers);

}  // namespace mcpgate::mcp
