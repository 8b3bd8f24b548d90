#include "tunnel/byte_channel.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "net/proxy_protocol.hpp"

namespace mcpgate::tunnel {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

class tcp_channel final : public byte_channel {
 public:
  explicit tcp_channel(tcp::socket socket) : socket_(std::move(socket)) {}

  asio::awaitable<error_code> read_into(std::string& out, std::size_t max) override {
    for (;;) {
      auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, nothrow);
      if (ec) co_return ec;
      // Sized by what the kernel holds: an idle stream holds no read buffer while it waits.
      const std::size_t want = std::clamp<std::size_t>(socket_.available(ec), 1, max);
      if (ec) co_return ec;
      const std::size_t old = out.size();
      out.resize(old + want);
      const std::size_t n = socket_.read_some(asio::buffer(out.data() + old, want), ec);
      out.resize(old + n);
      // A wait can complete with nothing to read (Asio completes waits speculatively after
      // an earlier readiness event); the socket is non-blocking, so that is would_block,
      // not a stalled thread: wait again.
      if (ec != asio::error::would_block && ec != asio::error::try_again) co_return ec;
    }
  }

  asio::awaitable<error_code> write_all(std::string_view bytes) override {
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), nothrow);
    co_return ec;
  }

  void shutdown_send() override {
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
  }

  void close() override {
    error_code ec;
    socket_.close(ec);
  }

 private:
  tcp::socket socket_;
};

class websocket_channel final : public byte_channel {
 public:
  explicit websocket_channel(beast::websocket::stream<beast::tcp_stream> ws) : ws_(std::move(ws)) {}

  asio::awaitable<error_code> read_into(std::string& out, std::size_t max) override {
    // A WebSocket's payload can sit in Beast's own buffer with nothing left in the socket,
    // so readability of the socket says nothing: the read needs room of its own, and `out`
    // (which the relay hands to HTTP/2 as soon as it is not empty) is touched only once the
    // read is over. The room adapts: it doubles while reads fill it (bulk) and halves when
    // they do not, so a quiet stream waits with the smallest.
    room_.resize(std::min(room_size_, max));
    auto [ec, n] = co_await ws_.async_read_some(asio::buffer(room_), nothrow);
    out.append(room_.data(), n);
    if (n == room_.size()) room_size_ = std::min(room_size_ * 2, max_room);
    else if (n < room_.size() / 2) room_size_ = std::max(room_size_ / 2, min_room);
    std::string().swap(room_);
    if (ec == beast::websocket::error::closed) ec = asio::error::eof;
    co_return ec;
  }

  asio::awaitable<error_code> write_all(std::string_view bytes) override {
    auto [ec, n] = co_await ws_.async_write(asio::buffer(bytes.data(), bytes.size()), nothrow);
    co_return ec;
  }

  void shutdown_send() override {}

  void close() override {
    error_code ec;
    ws_.next_layer().socket().close(ec);
  }

 private:
  static constexpr std::size_t min_room = 2 * 1024;
  static constexpr std::size_t max_room = 64 * 1024;
  beast::websocket::stream<beast::tcp_stream> ws_;
  std::string room_;
  std::size_t room_size_ = min_room;
};

void tune(tcp::socket& socket) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
}

}  // namespace

std::unique_ptr<byte_channel> make_tcp_channel(tcp::socket socket) {
  tune(socket);
  error_code ignored;
  socket.non_blocking(true, ignored);  // read_into reads synchronously after a wait
  return std::make_unique<tcp_channel>(std::move(socket));
}

asio::awaitable<std::unique_ptr<byte_channel>> dial_websocket(const websocket_target& target,
                                                              std::string_view client_address,
                                                              std::chrono::milliseconds timeout, error_code& ec) {
  beast::websocket::stream<beast::tcp_stream> ws(co_await asio::this_coro::executor);
  auto& tcp_layer = ws.next_layer();
  tcp_layer.expires_after(timeout);
  {
    auto [e] = co_await tcp_layer.async_connect(target.address, nothrow);
    if (e) {
      ec = e;
      co_return nullptr;
    }
  }
  tune(tcp_layer.socket());
  const std::string client(client_address);
  ws.set_option(beast::websocket::stream_base::decorator([client](beast::websocket::request_type& req) {
    req.set("Cf-Connecting-Ip", client);
    req.set(beast::http::field::user_agent, "mcpgate-connector");
  }));
  ws.binary(true);
  auto [e] = co_await ws.async_handshake(target.host_header, target.path, nothrow);
  if (e) {
    ec = e;
    co_return nullptr;
  }
  // Streams last as long as the client wants (SSE for hours): no deadline past the upgrade.
  tcp_layer.expires_never();
  ws.set_option(beast::websocket::stream_base::timeout{std::chrono::seconds(30), beast::websocket::stream_base::none(),
                                                      false});
  ec = {};
  co_return std::make_unique<websocket_channel>(std::move(ws));
}

asio::awaitable<std::unique_ptr<byte_channel>> dial_tcp(const tcp::endpoint& target, bool proxy_v2,
                                                        const tcp::endpoint& client, std::chrono::milliseconds timeout,
                                                        error_code& ec) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);
  auto [e] = co_await stream.async_connect(target, nothrow);
  if (e) {
    ec = e;
    co_return nullptr;
  }
  stream.expires_never();
  tcp::socket socket = stream.release_socket();
  tune(socket);
  if (proxy_v2) {
    const std::string header = net::make_proxy_v2_header(client, target);
    auto [we, n] = co_await asio::async_write(socket, asio::buffer(header), nothrow);
    if (we) {
      ec = we;
      co_return nullptr;
    }
  }
  ec = {};
  co_return make_tcp_channel(std::move(socket));
}

}  // namespace mcpgate::tunnel
