#include "net/listen.hpp"

#include <sys/socket.h>

#include <stdexcept>

#include <boost/asio/io_context.hpp>

#include "net/ip_prefix.hpp"

namespace mcpgate::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

boost::system::error_code bind_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& ep, bool reuse_port) {
  boost::system::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec && ep.address().is_v6()) acceptor.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && reuse_port) {
    acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  }
  if (!ec) acceptor.bind(ep, ec);
  return ec;
}

tcp::endpoint bind_endpoint(const std::string& host, std::uint16_t port, const std::string& what) {
  if (host.empty()) return {asio::ip::address_v6::any(), port};  // dual-stack
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return {address, port};
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error(what + ": cannot resolve '" + host + "': " + ec.message());
  }
  return results.begin()->endpoint();
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto address = unmapped(ep.address());
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(ep.port());
}

}  // namespace mcpgate::net
