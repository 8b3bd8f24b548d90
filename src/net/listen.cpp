#include "net/listen.hpp"

#include <sys/socket.h>

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

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto address = unmapped(ep.address());
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(ep.port());
}

}  // namespace mcpgate::net
