// The built-in sample MCP server behind `mcpgate hello`: a small, spec-correct Streamable
// HTTP server (protocol revision 2025-11-25, also 2025-06-18 / 2025-03-26) with MCP
// sessions and three tools (echo, add, slow). `make run`, the integration and e2e tests
// and users checking their setup put the gateway in front of it, so it follows the
// reference SDK server's status codes closely (see docs in hello_server.cpp).
//
// Threading: everything runs on the io_context passed in, which must be run by exactly one
// thread. start() and local_endpoint() may be called before that thread runs; stop() may
// be called from any thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mcpgate::mcp {

struct hello_server_options {
  std::string host = "127.0.0.1";  // an address or a name resolved at start()
  std::uint16_t port = 0;          // 0 = any free port; read it back with local_endpoint()
  unsigned slow_default_steps = 5;  // `slow` tool: steps when the call gives none
  std::size_t max_body_bytes = 4 * 1024 * 1024;  // larger request bodies get 413
  std::size_t max_sessions = 10'000;              // the oldest MCP session is evicted beyond
  // Deadline for reading one request (headers + body), which is also the keep-alive idle
  // timeout, and for each write (a client that stops reading an SSE stream is dropped).
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
};

class hello_server {
 public:
  using options = hello_server_options;

  hello_server(boost::asio::io_context& io, options opts);
  ~hello_server();
  hello_server(const hello_server&) = delete;
  hello_server& operator=(const hello_server&) = delete;

  // Binds, listens and starts accepting (once io.run() runs). Returns the bound endpoint.
  // Throws boost::system::system_error when the address cannot be resolved or bound.
  boost::asio::ip::tcp::endpoint start();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return endpoint_; }

  // Stops accepting and closes every connection (in-flight SSE streams end at once), so
  // io.run() returns once the handlers have unwound. Idempotent; callable from any thread.
  void stop();

  // Open connections, for tests and diagnostics. Call it on the io_context's thread.
  std::size_t connection_count() const;

  struct state;  // shared with the connection coroutines, which may outlive this object

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<state> state_;
  boost::asio::ip::tcp::endpoint endpoint_;
};

}  // namespace mcpgate::mcp
