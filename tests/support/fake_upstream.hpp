// A scripted upstream for integration tests: a TCP server on 127.0.0.1:0 whose every
// accepted connection runs `handler` on its own thread with blocking I/O, so a test can
// say exactly what the upstream does and when (send half an event, wait for a signal,
// close mid-body). The destructor unblocks and joins everything.
#pragma once

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace mcpgate::test {

namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

class fake_upstream {
 public:
  using handler = std::function<void(tcp::socket&)>;

  explicit fake_upstream(handler h, const std::string& bind_address = "127.0.0.1");
  ~fake_upstream();
  fake_upstream(const fake_upstream&) = delete;
  fake_upstream& operator=(const fake_upstream&) = delete;

  std::uint16_t port() const { return port_; }
  int connections_accepted() const { return accepted_.load(); }

 private:
  void accept_loop();

  handler handler_;
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> threads_;
};

// Blocking helpers for handlers. read_request returns false on EOF / error.
bool read_request(tcp::socket& socket, boost::beast::flat_buffer& buffer, bhttp::request<bhttp::string_body>& req);
// Writes bytes; returns false when the peer is gone.
bool write_raw(tcp::socket& socket, std::string_view bytes);
// Reads one request and starts a chunked text/event-stream response to it; false when
// no request arrived.
bool answer_with_event_stream(tcp::socket& socket);
// Blocks until the peer (the gateway) closes the connection or sends a byte; true when
// it closed. How a scripted upstream stays quiet and learns that the gateway let go.
bool wait_for_close(tcp::socket& socket);
// An upstream in the middle of a long tool call: it reads one request and never answers.
// Tells the test when the request arrived and when the gateway let go of the connection.
struct unanswered_request {
  std::promise<void> arrived_promise, closed_promise;
  std::future<void> arrived = arrived_promise.get_future();
  std::future<void> closed = closed_promise.get_future();
};
fake_upstream::handler never_answer(std::shared_ptr<unanswered_request> probe);

// A complete response with Content-Length.
std::string simple_response(unsigned status, std::string_view body, std::string_view extra_headers = {});
// One chunk of a chunked body ("" gives the terminating chunk).
std::string chunk(std::string_view data);

// Handler answering every request on a connection with `body` (200, keep-alive), and
// recording each request it saw.
struct recorded_requests {
  std::mutex mutex;
  std::vector<bhttp::request<bhttp::string_body>> requests;
  std::size_t size();
  bhttp::request<bhttp::string_body> at(std::size_t i);
};
fake_upstream::handler echo_handler(std::shared_ptr<recorded_requests> record, std::string extra_headers = {});

// An HTTPS server's connection: TLS handshake with `tls`, one request read, `respond`'s
// answer written (Content-Length set here).
using https_responder = std::function<bhttp::response<bhttp::string_body>(const bhttp::request<bhttp::string_body>&)>;
fake_upstream::handler https_handler(std::shared_ptr<boost::asio::ssl::context> tls, https_responder respond);
// A server TLS context with the certificate and key files given.
std::shared_ptr<boost::asio::ssl::context> server_tls_context(const std::string& cert_file, const std::string& key_file);

}  // namespace mcpgate::test
