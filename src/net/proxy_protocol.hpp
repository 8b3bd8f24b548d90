// The PROXY protocol (HAProxy, versions 1 and 2): the header a load balancer puts in front
// of a TCP stream to say who the client is. Only parsing here; downstream_session peeks
// at the socket, asks parse_proxy_header how long the header is, and consumes exactly
// that many bytes, so a TLS ClientHello right behind it stays in the socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace mcpgate::net {

// Longest header accepted: v1's 107 bytes, or v2's 16-byte preamble plus this much of
// addresses and TLVs (larger headers are refused rather than buffered).
constexpr std::size_t max_proxy_v2_payload = 4096;
constexpr std::size_t max_proxy_header = 16 + max_proxy_v2_payload;

struct proxy_header_result {
  enum class status { complete, need_more, invalid } state = status::need_more;
  std::size_t length = 0;  // bytes of header (complete)
  // The client's address (complete); nullopt for v1 UNKNOWN, v2 LOCAL and address
  // families other than TCP/UDP over IPv4/IPv6: the caller keeps the socket peer.
  std::optional<boost::asio::ip::address> source;
  std::string error;  // why (invalid)
};

// Looks at the first bytes of a connection.
proxy_header_result parse_proxy_header(std::span<const std::uint8_t> data);

// A PROXY v2 header (PROXY command, TCP) for a connection from `source` to `destination`,
// as the tunnel connector writes it in front of a connection to a gateway listener. Mixed
// families are written as IPv6 (IPv4-mapped).
std::string make_proxy_v2_header(const boost::asio::ip::tcp::endpoint& source,
                                 const boost::asio::ip::tcp::endpoint& destination);

}  // namespace mcpgate::net
