// The local end of a tunnelled stream: the public client's TCP connection on the edge, the
// connection to the gateway on the connector. The relay only needs "read what has arrived",
// "write all of this", "no more from me" and "abort", so the two transports the connector
// can use (raw TCP, optionally with a PROXY v2 header; a WebSocket as cloudflared uses) sit
// behind one small interface.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace mcpgate::tunnel {

class byte_channel {
 public:
  virtual ~byte_channel() = default;
  // Waits until bytes (or the end) arrive and appends at most `max` of them to `out`.
  // `out` is changed only when the read completes (the relay lets HTTP/2 take from it at
  // any time). The end of the peer's data is asio::error::eof.
  virtual boost::asio::awaitable<boost::system::error_code> read_into(std::string& out, std::size_t max) = 0;
  virtual boost::asio::awaitable<boost::system::error_code> write_all(std::string_view bytes) = 0;
  // The other direction may go on (TCP half-close). Transports without half-close ignore it.
  virtual void shutdown_send() = 0;
  // Aborts: pending reads and writes complete with an error.
  virtual void close() = 0;
};

// A plain TCP connection. Idle reads hold no buffer: they wait for readability first and
// size the read by what the kernel has, so a quiet stream costs a socket and no more.
std::unique_ptr<byte_channel> make_tcp_channel(boost::asio::ip::tcp::socket socket);

// Connects to a WebSocket listener (Anthropic mcp-proxy's, or the gateway's `ws` one) the
// way cloudflared does: GET `path` with Upgrade, Host `host_header`, the public client's
// address as Cf-Connecting-Ip; then each write leaves as one binary message. A WebSocket has
// no half-close, so shutdown_send does nothing: the gateway ends the connection when the
// inner TLS says so.
struct websocket_target {
  boost::asio::ip::tcp::endpoint address;
  std::string host_header;
  std::string path = "/";
};
boost::asio::awaitable<std::unique_ptr<byte_channel>> dial_websocket(const websocket_target& target,
                                                                     std::string_view client_address,
                                                                     std::chrono::milliseconds timeout,
                                                                     boost::system::error_code& ec);

// Connects to a TCP listener; with `proxy_v2` the connection starts with a PROXY protocol v2
// header naming `client` (listeners with `proxy_protocol: true` take the address from it).
boost::asio::awaitable<std::unique_ptr<byte_channel>> dial_tcp(const boost::asio::ip::tcp::endpoint& target,
                                                               bool proxy_v2,
                                                               const boost::asio::ip::tcp::endpoint& client,
                                                               std::chrono::milliseconds timeout,
                                                               boost::system::error_code& ec);

}  // namespace mcpgate::tunnel
