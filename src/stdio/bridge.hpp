// Streamable HTTP in front of stdio MCP servers (`upstream: stdio:...` routes).
//
// The gateway reaches a stdio route exactly as it reaches an HTTP upstream: the dialer asks
// the registry for a channel (one end of a socketpair; no port, nothing another local user
// could connect to) and speaks HTTP/1.1 on it, so inspection, tool policy, list filtering,
// rate limits and the audit log apply unchanged. The bridge serves the other end as an MCP
// Streamable HTTP server (2025-03-26 .. 2025-11-25) whose messages go to and come from the
// server processes' stdin / stdout, one JSON-RPC message per line:
//
//   POST initialize          -> a new MCP session (a new process unless `shared`), its id
//                               in Mcp-Session-Id; the answer arrives as an SSE stream
//   POST requests            -> written to the session's process; the answers and the
//                               server's messages about them come back on that POST's SSE
//   POST notifications,
//        the client's answers -> 202
//   GET                      -> the session's stream for server-initiated messages
//   DELETE                   -> ends the session (its process stops)
//
// Ids: every request the gateway writes to a process carries an id of the bridge's own
// (and so does each progress token); the client's id is put back on the answer. Sessions
// sharing a process therefore never see each other's answers, and two clients using the
// same ids do not collide. A server's own requests (sampling, elicitation, roots) go to the
// session that has a request in flight on that process (its GET stream when it has one),
// and the client's answer goes back to the process that asked.
//
// Failure: a process that exits answers every request in flight with a JSON-RPC error (no
// client waits forever) and is started again with backoff (1 s doubling to 30 s), given the
// session's initialize again, so the session goes on. Sessions idle longer than
// `idle_timeout` end; stop() ends every process group (SIGTERM, then SIGKILL).
//
// Threading: one thread runs every route's bridge; open_channel() and retain_only() may be
// called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "config/config.hpp"

namespace mcpgate::stdio {

class route_bridge;

class bridge_registry {
 public:
  bridge_registry();
  ~bridge_registry();  // stop()
  bridge_registry(const bridge_registry&) = delete;
  bridge_registry& operator=(const bridge_registry&) = delete;

  // A new connection to the bridge of `route` (a stdio route), as a socket on `executor`
  // to speak HTTP/1.1 on. The route's bridge starts on first use.
  boost::asio::ip::tcp::socket open_channel(const config::route& route, const boost::asio::any_io_executor& executor,
                                            boost::system::error_code& ec);

  // After a reload: bridges of routes no longer in `cfg` (or whose stdio settings changed)
  // stop their processes; the others keep their sessions.
  void retain_only(const config::config& cfg);

  // Ends every session and process group, waits up to `grace` for the processes to exit,
  // then kills what is left. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  // Live server processes over all routes (tests, status).
  std::size_t process_count() const { return processes_.load(); }

  // Key of a route's bridge (also the upstream pool key of its channels).
  static std::string key_of(const config::route& route);

 private:
  boost::asio::io_context io_;
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<route_bridge>> bridges_;
  std::atomic<std::size_t> processes_{0};
  bool stopped_ = false;
};

}  // namespace mcpgate::stdio
