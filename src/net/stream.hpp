// A byte stream that is TCP or TLS-over-TCP, decided at run time.
//
// The proxy session and the upstream pool handle plain and TLS connections with one
// code path: Beast's HTTP algorithms only need AsyncReadStream / AsyncWriteStream, and
// this forwards each call to whichever stream is live. Deadlines live on the TCP layer
// (beast::tcp_stream::expires_after), which TLS reads and writes pass through.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace mcpgate::net {

class maybe_tls_stream {
 public:
  using tcp_stream = boost::beast::tcp_stream;
  using tls_stream = boost::beast::ssl_stream<tcp_stream>;
  using executor_type = tcp_stream::executor_type;

  explicit maybe_tls_stream(tcp_stream tcp) : tcp_(std::move(tcp)) {}
  maybe_tls_stream(tcp_stream tcp, boost::asio::ssl::context& ctx) : tls_(std::in_place, std::move(tcp), ctx) {}

  maybe_tls_stream(maybe_tls_stream&&) = default;
  maybe_tls_stream& operator=(maybe_tls_stream&&) = delete;

  bool is_tls() const { return tls_.has_value(); }
  tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *tcp_; }
  tls_stream& tls() { return *tls_; }
  executor_type get_executor() { return tcp().get_executor(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            tcp_->async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            tcp_->async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

 private:
  std::optional<tcp_stream> tcp_;  // plain connections
  std::optional<tls_stream> tls_;  // TLS connections (owns its TCP stream)
};

}  // namespace mcpgate::net
