#include "support/fake_upstream.hpp"

#include <boost/asio/ssl/stream.hpp>

#include <sys/socket.h>

#include <boost/asio/write.hpp>
#include <fmt/format.h>

namespace mcpgate::test {

fake_upstream::fake_upstream(handler h, const std::string& bind_address)
    : handler_(std::move(h)), acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address(bind_address), 0)) {
  port_ = acceptor_.local_endpoint().port();
  accept_thread_ = std::thread([this] { accept_loop(); });
}

fake_upstream::~fake_upstream() {
  stopping_ = true;
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // unblocks accept()
  accept_thread_.join();
  {
    std::lock_guard lock(mutex_);
    for (auto& s : sockets_) ::shutdown(s->native_handle(), SHUT_RDWR);  // unblocks handlers
  }
  for (auto& t : threads_) t.join();
}

void fake_upstream::accept_loop() {
  while (!stopping_) {
    auto socket = std::make_shared<tcp::socket>(io_);
    boost::system::error_code ec;
    acceptor_.accept(*socket, ec);
    if (ec || stopping_) return;
    ++accepted_;
    socket->set_option(tcp::no_delay(true), ec);
    std::lock_guard lock(mutex_);
    sockets_.push_back(socket);
    threads_.emplace_back([this, socket] {
      try {
        handler_(*socket);
      } catch (const std::exception&) {
        // The gateway closing a connection mid-script is an outcome tests assert on elsewhere.
      }
    });
  }
}

bool read_request(tcp::socket& socket, boost::beast::flat_buffer& buffer, bhttp::request<bhttp::string_body>& req) {
  boost::system::error_code ec;
  req = {};
  bhttp::read(socket, buffer, req, ec);
  return !ec;
}

bool write_raw(tcp::socket& socket, std::string_view bytes) {
  boost::system::error_code ec;
  boost::asio::write(socket, boost::asio::buffer(bytes.data(), bytes.size()), ec);
  return !ec;
}

bool answer_with_event_stream(tcp::socket& socket) {
  boost::beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> req;
  if (!read_request(socket, buffer, req)) return false;
  return write_raw(socket, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
}

bool wait_for_close(tcp::socket& socket) {
  char byte;
  boost::system::error_code ec;
  socket.read_some(boost::asio::buffer(&byte, 1), ec);
  return static_cast<bool>(ec);
}

fake_upstream::handler never_answer(std::shared_ptr<unanswered_request> probe) {
  return [probe](tcp::socket& s) {
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::string_body> req;
    if (!read_request(s, buf, req)) return;
    probe->arrived_promise.set_value();
    if (wait_for_close(s)) probe->closed_promise.set_value();
  };
}

std::string simple_response(unsigned status, std::string_view body, std::string_view extra_headers) {
  return fmt::format("HTTP/1.1 {} X\r\nContent-Length: {}\r\n{}\r\n{}", status, body.size(), extra_headers, body);
}

std::string chunk(std::string_view data) { return fmt::format("{:x}\r\n{}\r\n", data.size(), data); }

std::size_t recorded_requests::size() {
  std::lock_guard lock(mutex);
  return requests.size();
}

bhttp::request<bhttp::string_body> recorded_requests::at(std::size_t i) {
  std::lock_guard lock(mutex);
  return requests.at(i);
}

fake_upstream::handler echo_handler(std::shared_ptr<recorded_requests> record, std::string extra_headers) {
  return [record, extra_headers](tcp::socket& socket) {
    boost::beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    while (read_request(socket, buffer, req)) {
      {
        std::lock_guard lock(record->mutex);
        record->requests.push_back(req);
      }
      const auto body = "echo:" + req.body();
      if (!write_raw(socket, simple_response(200, body, "Content-Type: application/json\r\n" + extra_headers))) return;
    }
  };
}

fake_upstream::handler https_handler(std::shared_ptr<boost::asio::ssl::context> tls, https_responder respond) {
  return [tls, respond](tcp::socket& raw) {
    boost::asio::ssl::stream<tcp::socket&> s(raw, *tls);
    boost::system::error_code ec;
    s.handshake(boost::asio::ssl::stream_base::server, ec);
    if (ec) return;
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::string_body> req;
    bhttp::read(s, buf, req, ec);
    if (ec) return;
    auto res = respond(req);
    res.prepare_payload();
    bhttp::write(s, res, ec);
  };
}

std::shared_ptr<boost::asio::ssl::context> server_tls_context(const std::string& cert_file, const std::string& key_file) {
  auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  ctx->use_certificate_chain_file(cert_file);
  ctx->use_private_key_file(key_file, boost::asio::ssl::context::pem);
  return ctx;
}

}  // namespace mcpgate::test
