// Binding listening sockets and printing their addresses, shared by the gateway (which
// listens) and `mcpgate doctor` (which checks the ports are free the same way).
#pragma once

#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace mcpgate::net {

// Opens and binds `acceptor` to `ep` (dual-stack for "::"), with SO_REUSEPORT when asked.
// Without it, a port someone already holds fails with address_in_use.
boost::system::error_code bind_acceptor(boost::asio::ip::tcp::acceptor& acceptor,
                                        const boost::asio::ip::tcp::endpoint& ep, bool reuse_port);

// Where a listener configured as `host`:`port` binds: "" = all interfaces (dual-stack), an
// IP address as is, a name resolved once. Throws std::runtime_error naming `what`.
boost::asio::ip::tcp::endpoint bind_endpoint(const std::string& host, std::uint16_t port, const std::string& what);

// "127.0.0.1:8080", "[::1]:8080"; IPv4-mapped addresses as plain IPv4.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep);

}  // namespace mcpgate::net
