// JSON-RPC error bodies for replies the gateway makes itself on MCP routes, so an MCP
// client shows the reason ("Rate limit exceeded") instead of an unparseable text body.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::mcp {

// JSON-RPC's implementation-defined server error: no MCP code exists for gateway refusals.
constexpr int gateway_error_code = -32000;

struct gateway_error {
  std::string_view message{};  // human text: "Rate limit exceeded"
  std::string_view reason{};   // the stable reason of the access log: "rate_limited"
  std::optional<std::uint64_t> retry_after_seconds{};
  // The request's JSON-RPC id as JSON text ("7", "\"a\""); null when not known.
  std::string_view id_json = "null";
  int code = gateway_error_code;
};

// {"jsonrpc":"2.0","id":…,"error":{"code":-32000,"message":…,"data":{"reason":…[,"retry_after":n]}}}
std::string jsonrpc_error_body(const gateway_error& error);
// The same error object for each of several ids (a refused batch): a JSON array.
std::string jsonrpc_error_batch(const std::vector<gateway_error>& errors);

}  // namespace mcpgate::mcp
