// A byte stream that is TCP, TLS-over-TCP, or TLS inside a WebSocket, decided at run time.
//
// The proxy session and the upstream pool handle every kind of connection with one code
// path: Beast's HTTP algorithms only need AsyncReadStream / AsyncWriteStream, and this
// forwards each call to whichever stream is live. Deadlines live on the TCP layer
// (beast::tcp_stream::expires_after), which TLS and WebSocket reads and writes pass through.
//
// The WebSocket kind is Anthropic mcp-proxy's listener: cloudflared forwards each tunnelled
// connection as a WebSocket upgrade, and the client's TLS handshake ("inner TLS") runs
// inside the binary message stream. websocket_bytes turns that message stream back into
// a byte stream for OpenSSL: each TLS write leaves as one binary frame, reads return
// payload bytes whatever the frame boundaries.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace mcpgate::net {

// A WebSocket's payload as a byte stream (AsyncReadStream + AsyncWriteStream), server side.
class websocket_bytes {
 public:
  using websocket = boost::beast::websocket::stream<boost::beast::tcp_stream>;
  using executor_type = websocket::executor_type;
  using lowest_layer_type = boost::beast::tcp_stream::socket_type;  // asio::ssl::stream needs these two

  explicit websocket_bytes(boost::beast::tcp_stream tcp);
  websocket_bytes(websocket_bytes&&) = default;

  websocket& ws() { return ws_; }
  boost::beast::tcp_stream& tcp() { return ws_.next_layer(); }
  lowest_layer_type& lowest_layer() { return ws_.next_layer().socket(); }
  executor_type get_executor() { return ws_.get_executor(); }

  // An empty read completes at once, as a socket's does. asio::ssl relies on that: when an
  // operation finishes without I/O (a request already decrypted in the buffer) it defers the
  // completion with a zero-byte read on this layer, which a WebSocket read would otherwise
  // turn into "wait for the next frame" -- a request whose TLS record came in the same
  // message as the handshake's Finished would sit there until the client sent more.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (boost::asio::buffer_size(b) == 0) {
            complete_empty(std::move(handler));
          } else {
            ws_.async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (boost::asio::buffer_size(b) == 0) {
            complete_empty(std::move(handler));  // not an empty frame
          } else {
            ws_.async_write_some(true, b, std::move(handler));  // one TLS write = one frame
          }
        },
        token, buffers);
  }

 private:
  template <class Handler>
  void complete_empty(Handler handler) {
    auto executor = boost::asio::get_associated_executor(handler, ws_.get_executor());
    boost::asio::post(executor, [h = std::move(handler)]() mutable { std::move(h)(boost::system::error_code{}, 0); });
  }

  websocket ws_;
};

enum class stream_kind { plain, tls, websocket_tls };

class maybe_tls_stream {
 public:
  using tcp_stream = boost::beast::tcp_stream;
  using tls_stream = boost::beast::ssl_stream<tcp_stream>;
  using ws_tls_stream = boost::beast::ssl_stream<websocket_bytes>;
  using executor_type = tcp_stream::executor_type;

  explicit maybe_tls_stream(tcp_stream tcp) : tcp_(std::move(tcp)) {}
  maybe_tls_stream(tcp_stream tcp, boost::asio::ssl::context& ctx) : tls_(std::in_place, std::move(tcp), ctx) {}
  // TLS inside a WebSocket: the upgrade (ws().async_accept) comes first, then the handshake.
  maybe_tls_stream(tcp_stream tcp, boost::asio::ssl::context& ctx, std::in_place_type_t<websocket_bytes>)
      : ws_tls_(std::in_place, websocket_bytes(std::move(tcp)), ctx) {}

  maybe_tls_stream(maybe_tls_stream&&) = default;
  maybe_tls_stream& operator=(maybe_tls_stream&&) = delete;

  stream_kind kind() const {
    return tcp_ ? stream_kind::plain : tls_ ? stream_kind::tls : stream_kind::websocket_tls;
  }
  bool is_tls() const { return !tcp_; }
  tcp_stream& tcp() { return tcp_ ? *tcp_ : tls_ ? tls_->next_layer() : ws_tls_->next_layer().tcp(); }
  tls_stream& tls() { return *tls_; }
  websocket_bytes::websocket& ws() { return ws_tls_->next_layer().ws(); }
  executor_type get_executor() { return tcp().get_executor(); }
  // The OpenSSL connection (client certificate, exporter values); null on plain streams.
  SSL* native_ssl() { return tls_ ? tls_->native_handle() : ws_tls_ ? ws_tls_->native_handle() : nullptr; }

  // Client side, before the handshake: verify the server certificate for `server_name`
  // and send it as SNI (names only: RFC 6066 forbids IP literals in server_name).
  void set_client_identity(const std::string& server_name);

  template <class Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this, type](auto handler) {
          if (tls_) {
            tls_->async_handshake(type, std::move(handler));
          } else {
            ws_tls_->async_handshake(type, std::move(handler));
          }
        },
        token);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tcp_) {
            tcp_->async_read_some(b, std::move(handler));
          } else if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            ws_tls_->async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tcp_) {
            tcp_->async_write_some(b, std::move(handler));
          } else if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            ws_tls_->async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

 private:
  std::optional<tcp_stream> tcp_;        // plain connections
  std::optional<tls_stream> tls_;        // TLS connections (owns its TCP stream)
  std::optional<ws_tls_stream> ws_tls_;  // TLS inside a WebSocket (owns both)
};

}  // namespace mcpgate::net
