// What connector and edge say to each other after TLS and before HTTP/2: the connector
// proves it holds a token of the tunnel (a signature over this TLS session's exporter
// value, see token.hpp), the edge answers with a verdict. One length-prefixed JSON message
// each way (4-byte big-endian length, at most max_handshake_bytes), so both are easy to
// log, extend and fuzz.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "tunnel/h2_link.hpp"
#include "tunnel/token.hpp"

namespace mcpgate::tunnel {

constexpr std::size_t max_handshake_bytes = 4096;
// ALPN of the connector connection: a connector that reaches something else (a web server
// on the port) fails at the TLS handshake with a clear reason instead of at the first frame.
constexpr std::string_view connector_alpn = "mcpgate-tunnel/1";

struct connector_hello {
  std::string tunnel_id;
  std::uint32_t version = 0;
  token_signature proof{};
  std::string connector;    // the connector's name for logs (host name), at most 64 characters
  unsigned connection = 0;  // which of its connections (0-based)
};

struct edge_verdict {
  std::string result;   // "ok" or an auth_verdict name (token_rotated, tunnel_archived, ...)
  std::string message;  // for the connector's log
  std::string domain;   // ok: the tunnel's domain
};

std::string encode_hello(const connector_hello& hello);
std::optional<connector_hello> decode_hello(std::string_view json, std::string& error);
std::string encode_verdict(const edge_verdict& verdict);
std::optional<edge_verdict> decode_verdict(std::string_view json, std::string& error);

// The TLS exporter value both ends compute (RFC 8446 section 7.5, label token.hpp's
// proof_label); nullopt if the session has none (not TLS 1.3, handshake not done).
std::optional<std::array<std::uint8_t, 32>> tls_exporter(tls_socket& tls);

// One length-prefixed message. Errors: transport errors, message_size (a length over
// max_handshake_bytes). No deadline of their own: the caller's handshake_deadline covers
// the whole exchange.
boost::asio::awaitable<boost::system::error_code> write_message(tls_socket& tls, std::string_view message);
boost::asio::awaitable<boost::system::error_code> read_message(tls_socket& tls, std::string& message);

// Closes the connection if the handshake phase is not over (cancel()ed, or the object
// destroyed) within `timeout`. Holds only a weak reference, so it is safe whatever ends
// first.
class handshake_deadline {
 public:
  handshake_deadline(const std::shared_ptr<tls_socket>& tls, std::chrono::milliseconds timeout);
  ~handshake_deadline();
  handshake_deadline(const handshake_deadline&) = delete;
  handshake_deadline& operator=(const handshake_deadline&) = delete;
  bool expired() const { return *expired_; }

 private:
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> expired_ = std::make_shared<bool>(false);
};

}  // namespace mcpgate::tunnel
