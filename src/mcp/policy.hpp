// Route tool / prompt / resource rules applied to JSON-RPC messages: which calls the
// gateway refuses itself, and (response side) which list entries clients get to see.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcpgate::mcp {

enum class name_verdict { allowed, denied_by_deny, denied_by_allow };

name_verdict check(const config::name_rule& rule, std::string_view name);

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
};
std::optional<call_refusal> refused_call(const config::mcp_policy& policy, const message_info& message);

}  // namespace mcpgate::mcp
