// A small synchronous HTTP/1.1 test client (Beast) for talking to in-process servers: send a
// request, read the response header, then read the body as it arrives, piece by piece or as
// SSE events, each step bounded by a timeout. One connection per client; keep-alive works
// (send the next request after the previous response was read to its end).
//
// The connection is plain TCP (connect), TLS (connect_tls), or what Anthropic's backend
// and cloudflared make of a tunnelled request (connect_tunnel): a WebSocket upgrade, then a
// verifying TLS client inside the WebSocket's binary stream.
//
// Failures (connect refused, timeout, connection reset) throw boost::system::system_error,
// which GoogleTest reports as a test failure; a timeout's code is boost::beast::error::timeout.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "net/stream.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::test {

namespace http = boost::beast::http;

// One server-sent event, as the SSE spec splits a stream: fields of one event up to the
// blank line; several data lines joined with '\n'; comment lines (": ...") collected apart.
struct sse_event {
  std::string event;  // empty when the event had no `event:` line (then it is a "message")
  std::string data;
  std::optional<std::string> id;
  std::optional<std::uint64_t> retry;
  std::vector<std::string> comments;
  std::chrono::steady_clock::time_point received;  // when the read completing it returned
};

class http_test_client {
 public:
  explicit http_test_client(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~http_test_client();
  http_test_client(const http_test_client&) = delete;
  http_test_client& operator=(const http_test_client&) = delete;

  // Every later operation (connect, each write, each read) must finish within this.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  void connect(const std::string& host, std::uint16_t port);
  // TLS with SNI `server_name`, verifying the certificate against `ca_file` and the name.
  void connect_tls(const std::string& host, std::uint16_t port, const std::string& server_name,
                   const std::string& ca_file);
  // WebSocket upgrade (with `upgrade_headers` on the upgrade request, as cloudflared adds
  // Cf-Connecting-Ip), then TLS as connect_tls inside the WebSocket.
  void connect_tunnel(const std::string& host, std::uint16_t port, const std::string& server_name,
                      const std::string& ca_file, const std::vector<std::pair<std::string, std::string>>& upgrade_headers = {});
  bool is_open() const;
  void close();

  // Writes the request as given, after prepare_payload() on a copy (sets Content-Length).
  void send(http::request<http::string_body> req);
  // Writes bytes verbatim: malformed requests, partial bodies, pipelining.
  void send_raw(std::string_view bytes);
  // Tunnel connections: a WebSocket close frame on the TCP connection, under the TLS
  // stream (what cloudflared sends when the far side goes away).
  void send_websocket_close();

  // Reads the header of the next response. Pass head_request = true after a HEAD request
  // (the response then has no body whatever its Content-Length says).
  const http::response_header<>& read_header(bool head_request = false);
  // The next piece of the body as it arrives (one chunk or read, never empty), or nullopt
  // once the body has ended. Needs read_header() first.
  std::optional<std::string> read_body_some();
  std::string read_body_rest();
  // The next complete SSE event of a text/event-stream body, or nullopt at end of body.
  std::optional<sse_event> read_sse_event();

  // Header and whole body of the next response.
  http::response<http::string_body> read_response(bool head_request = false);
  // send() + read_response().
  http::response<http::string_body> request(http::request<http::string_body> req);

  // Whether the server closes the connection within the timeout (data it sends meanwhile
  // is discarded). False on timeout.
  bool wait_closed();
  // connect() + wait_closed() for a server that cuts connections at accept: its reset can
  // reach us before our connect completes, which counts as closed too.
  bool connect_and_wait_closed(const std::string& host, std::uint16_t port);

 private:
  template <class Start>
  void run(Start&& start);

  // `ca_file` is the trust anchor of tls / websocket_tls kinds.
  void open_tcp(const std::string& host, std::uint16_t port, net::stream_kind kind = net::stream_kind::plain,
                const std::string& ca_file = {});
  void start_tls(const std::string& server_name);

  boost::asio::io_context io_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  // Plain, TLS or WebSocket+TLS; empty before the first connect. After io_ and tls_: it
  // must be destroyed before them.
  std::optional<net::maybe_tls_stream> stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::vector<char> chunk_;
  std::string sse_pending_;  // body bytes not yet forming a complete event
  std::chrono::milliseconds timeout_;
};

// A request with Host set and HTTP/1.1 keep-alive, for the common case.
http::request<http::string_body> make_request(http::verb method, std::string_view target,
                                              std::string_view host, std::string body = {});

}  // namespace mcpgate::test
