// The process log (log.hpp: one logger per component; stderr or `log_file`) and the access
// log (one line per exchange; stdout or `access_log_file`), text or JSON (`log_format`).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace mcpgate::observability {

// Creates the component loggers (the default spdlog logger is the gateway one) and starts
// the once-a-second flush. Safe to call again (it then changes the level only).
void init_logging(config::log_level level);
// Every component logger; the access log has no level (every exchange is written).
void set_log_level(config::log_level level);
// Format and destinations. Files are opened again even when their path did not change:
// that is how a reload (SIGHUP) starts new files after logrotate moved the old ones.
// Throws std::runtime_error naming the key when a file cannot be opened.
void configure_logging(const config::log_settings& settings);
// Reopens the current files (a SIGHUP whose config could not be loaded still rotates the
// logs); failures are logged, the old file is kept.
void reopen_logs();

// One exchange as the access log records it. Stable field names: dashboards parse them.
struct access_record {
  std::string client;        // client address: the peer, or what a trusted proxy reported
  std::string peer;          // socket peer (the proxy, when client came from one)
  std::string method;
  std::string host;          // Host header as sent
  std::string path;          // without the query string (queries can carry session ids)
  std::string route;         // route name, "" when none matched
  std::string upstream;      // scheme://host:port, "" for local replies
  unsigned status = 0;       // 0 when the exchange ended before a response header
  std::uint64_t bytes_in = 0;   // request body bytes received from the client
  std::uint64_t bytes_out = 0;  // response body bytes sent to the client
  std::chrono::microseconds duration{0};
  std::string reason;        // stable reason for local replies and aborted exchanges ("" when proxied normally)
  std::string mcp_session;   // Mcp-Session-Id, if any
  std::string rule;          // the access rule that refused ("routes.echo.allow"), if any
  std::string caller;        // the authenticated caller ("oauth:alice", "key:ci-bot"), "" when anonymous
  // MCP routes: the JSON-RPC method of the POST body ("tools/call"; a batch: the first
  // message's, with "+" appended) and what it names (the tool, prompt or resource).
  std::string mcp_method;
  std::string mcp_name;
};

void write_access_log(const access_record& record);

// JSON string escaping for hand-built log lines.
std::string json_escape(std::string_view text);

}  // namespace mcpgate::observability
