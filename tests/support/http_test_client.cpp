#include "support/http_test_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/system_error.hpp>

#include <array>
#include <limits>
#include <utility>

namespace mcpgate::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

http_test_client::http_test_client(std::chrono::milliseconds timeout)
    : chunk_(64 * 1024), timeout_(timeout) {}

http_test_client::~http_test_client() { close(); }

// Runs one asynchronous operation to completion under the timeout. beast::tcp_stream only
// honours expires_after() for asynchronous operations, hence async + run() here.
template <class Start>
void http_test_client::run(Start&& start) {
  if (!stream_) throw std::logic_error("http_test_client: not connected");
  error_code result = asio::error::would_block;
  stream_->tcp().expires_after(timeout_);
  std::forward<Start>(start)([&result](error_code ec) { result = ec; });
  io_.restart();
  io_.run();
  if (result) throw boost::system::system_error(result);
}

void http_test_client::open_tcp(const std::string& host, std::uint16_t port, net::stream_kind kind,
                                const std::string& ca_file) {
  close();
  stream_.reset();
  asio::ip::tcp::resolver resolver(io_);
  const auto endpoints = resolver.resolve(host, std::to_string(port));
  beast::tcp_stream tcp(io_);
  if (kind == net::stream_kind::plain) {
    stream_.emplace(std::move(tcp));
  } else {
    // Configured before the stream exists: an SSL object copies the context's settings.
    tls_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    tls_->load_verify_file(ca_file);
    tls_->set_verify_mode(asio::ssl::verify_peer);
    if (kind == net::stream_kind::tls) {
      stream_.emplace(std::move(tcp), *tls_);
    } else {
      stream_.emplace(std::move(tcp), *tls_, std::in_place_type<net::websocket_bytes>);
    }
  }
  run([&](auto done) {
    stream_->tcp().async_connect(endpoints, [done](error_code ec, const auto&) mutable { done(ec); });
  });
  error_code ignored;
  stream_->tcp().socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  buffer_.clear();
  parser_.reset();
  sse_pending_.clear();
}

void http_test_client::connect(const std::string& host, std::uint16_t port) { open_tcp(host, port); }

void http_test_client::start_tls(const std::string& server_name) {
  stream_->set_client_identity(server_name);
  run([&](auto done) {
    stream_->async_handshake(asio::ssl::stream_base::client, [done](error_code ec) mutable { done(ec); });
  });
}

void http_test_client::connect_tls(const std::string& host, std::uint16_t port, const std::string& server_name,
                                   const std::string& ca_file) {
  open_tcp(host, port, net::stream_kind::tls, ca_file);
  start_tls(server_name);
}

void http_test_client::connect_tunnel(const std::string& host, std::uint16_t port, const std::string& server_name,
                                      const std::string& ca_file,
                                      const std::vector<std::pair<std::string, std::string>>& upgrade_headers) {
  open_tcp(host, port, net::stream_kind::websocket_tls, ca_file);
  auto& ws = stream_->ws();
  ws.set_option(beast::websocket::stream_base::decorator([upgrade_headers](beast::websocket::request_type& req) {
    for (const auto& [name, value] : upgrade_headers) req.set(name, value);
  }));
  run([&](auto done) { ws.async_handshake(host, "/", [done](error_code ec) mutable { done(ec); }); });
  start_tls(server_name);
}

bool http_test_client::is_open() const { return stream_ && const_cast<net::maybe_tls_stream&>(*stream_).tcp().socket().is_open(); }

void http_test_client::close() {
  if (!stream_) return;
  error_code ignored;
  stream_->tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream_->tcp().socket().close(ignored);
}

void http_test_client::send(http::request<http::string_body> req) {
  req.prepare_payload();
  run([&](auto done) {
    http::async_write(*stream_, req, [done](error_code ec, std::size_t) mutable { done(ec); });
  });
}

void http_test_client::send_raw(std::string_view bytes) {
  run([&](auto done) {
    asio::async_write(*stream_, asio::buffer(bytes.data(), bytes.size()),
                      [done](error_code ec, std::size_t) mutable { done(ec); });
  });
}

void http_test_client::send_websocket_close() {
  // FIN + close opcode, MASK bit + empty payload, then the (all-zero) masking key.
  const std::array<unsigned char, 6> frame{0x88, 0x80, 0, 0, 0, 0};
  run([&](auto done) {
    asio::async_write(stream_->tcp(), asio::buffer(frame), [done](error_code ec, std::size_t) mutable { done(ec); });
  });
}

const http::response_header<>& http_test_client::read_header(bool head_request) {
  parser_.emplace();
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  if (head_request) parser_->skip(true);
  sse_pending_.clear();
  run([&](auto done) {
    http::async_read_header(*stream_, buffer_, *parser_,
                            [done](error_code ec, std::size_t) mutable { done(ec); });
  });
  return parser_->get().base();
}

std::optional<std::string> http_test_client::read_body_some() {
  if (!parser_) throw std::logic_error("read_body_some() before read_header()");
  // A read can complete having parsed only framing (a chunk header), so go on until data.
  while (!parser_->is_done()) {
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    run([&](auto done) {
      http::async_read_some(*stream_, buffer_, *parser_, [done](error_code ec, std::size_t) mutable {
        done(ec == http::error::need_buffer ? error_code{} : ec);
      });
    });
    const std::size_t n = chunk_.size() - parser_->get().body().size;
    if (n > 0) return std::string(chunk_.data(), n);
  }
  return std::nullopt;
}

std::string http_test_client::read_body_rest() {
  std::string all = std::exchange(sse_pending_, {});
  while (auto piece = read_body_some()) all += *piece;
  return all;
}

namespace {

// Parses one event's text (without the terminating blank line) per the SSE field rules.
sse_event parse_sse_event(std::string_view text) {
  sse_event ev;
  bool has_data = false;
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with(':')) {
      ev.comments.emplace_back(line.substr(1));
      continue;
    }
    const auto colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
    if (field == "event") {
      ev.event = value;
    } else if (field == "data") {
      if (has_data) ev.data += '\n';
      ev.data += value;
      has_data = true;
    } else if (field == "id") {
      ev.id = std::string(value);
    } else if (field == "retry") {
      try {
        ev.retry = std::stoull(std::string(value));
      } catch (const std::exception&) {
        // ignored, as the SSE spec says for a non-numeric retry
      }
    }
  }
  return ev;
}

// The first event in buf ends at a blank line: returns the length of the event's text and of
// the blank line's terminator, or nullopt while incomplete. A lone '\r' at the very end may
// still be followed by '\n', so it waits for more.
std::optional<std::pair<std::size_t, std::size_t>> find_event_end(std::string_view buf) {
  std::size_t start = 0;
  while (start < buf.size()) {
    const auto term = buf.find_first_of("\r\n", start);
    if (term == std::string_view::npos) return std::nullopt;
    std::size_t after = term + 1;
    if (buf[term] == '\r') {
      if (after == buf.size()) return std::nullopt;
      if (buf[after] == '\n') ++after;
    }
    if (term == start) return std::pair{start, after - start};
    start = after;
  }
  return std::nullopt;
}

}  // namespace

std::optional<sse_event> http_test_client::read_sse_event() {
  for (;;) {
    // Leading blank lines (dispatching nothing) are skipped.
    while (!sse_pending_.empty() && (sse_pending_.front() == '\n' || sse_pending_.front() == '\r'))
      sse_pending_.erase(0, 1);
    if (auto end = find_event_end(sse_pending_)) {
      sse_event ev = parse_sse_event(std::string_view(sse_pending_).substr(0, end->first));
      ev.received = std::chrono::steady_clock::now();
      sse_pending_.erase(0, end->first + end->second);
      return ev;
    }
    auto piece = read_body_some();
    if (!piece) return std::nullopt;  // an unterminated trailing event is dropped, as SSE does
    sse_pending_ += *piece;
  }
}

http::response<http::string_body> http_test_client::read_response(bool head_request) {
  http::response<http::string_body> res{read_header(head_request)};
  res.body() = read_body_rest();
  return res;
}

http::response<http::string_body> http_test_client::request(http::request<http::string_body> req) {
  const bool head = req.method() == http::verb::head;
  send(std::move(req));
  return read_response(head);
}

bool http_test_client::wait_closed() {
  try {
    for (;;) {
      run([&](auto done) {
        stream_->async_read_some(asio::buffer(chunk_), [done](error_code ec, std::size_t) mutable { done(ec); });
      });
    }
  } catch (const boost::system::system_error& e) {
    return e.code() != beast::error::timeout;
  }
}

bool http_test_client::connect_and_wait_closed(const std::string& host, std::uint16_t port) {
  try {
    connect(host, port);
  } catch (const boost::system::system_error& e) {
    return e.code() == asio::error::connection_reset;
  }
  return wait_closed();
}

http::request<http::string_body> make_request(http::verb method, std::string_view target,
                                              std::string_view host, std::string body) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, host);
  req.body() = std::move(body);
  req.keep_alive(true);
  return req;
}

}  // namespace mcpgate::test
