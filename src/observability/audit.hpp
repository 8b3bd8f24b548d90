// The audit log: one JSON line per JSON-RPC request through an MCP route — who called what,
// and what came of it. Separate from the access log (one line per HTTP exchange), so it can
// go to its own file with its own retention.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace boost::json {
class value;
}

namespace mcpgate::observability {

struct audit_record {
  std::string route;
  std::string client;
  std::string session;  // Mcp-Session-Id
  std::string caller;   // the authenticated caller ("oauth:alice", "key:ci-bot"), "" when anonymous
  std::string method;
  std::string name;     // the tool, prompt or resource a call names
  std::string id;       // JSON text; "" for a notification
  // result | error (the server answered with an error) | refused (the gateway answered) |
  // accepted (a notification the server took) | no_answer (the response held none for this id)
  // | unknown (the answer was not readable: too large, not JSON)
  std::string outcome;
  std::optional<std::int64_t> error_code;
  std::string reason;   // the gateway's reason for a refusal (tool_denied, rate_limited, ...)
  unsigned status = 0;  // HTTP status of the exchange
  std::chrono::microseconds duration{0};
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::string arguments;  // JSON text, redacted and capped; "" when not logged
  bool arguments_truncated = false;
};

// Opens (or reopens: SIGHUP) the audit destination. Throws std::runtime_error when a file
// cannot be opened. Disabled settings close it.
void configure_audit(const config::audit_settings& settings);
bool audit_enabled();
void write_audit(const audit_record& record);

// A call's arguments as the audit log shows them: values under keys that name secrets
// (password, token, ...: case-insensitive substrings, from settings.redact) replaced by
// "[redacted]" at any depth; the JSON text cut at settings.max_argument_bytes.
std::string audit_arguments(const boost::json::value& arguments, const config::audit_settings& settings,
                            bool& truncated);

}  // namespace mcpgate::observability
