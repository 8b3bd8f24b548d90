// Name resolution with a deadline, for the dialers that check addresses before connecting
// (upstreams, the OAuth fetches). An IP literal is not resolved at all.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace mcpgate::net {

struct resolved {
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // every address the name has
  boost::system::error_code error;
  bool timed_out = false;  // error is set too
};

// Completes by `deadline` at the latest, even when getaddrinfo is stuck on an unanswering
// DNS server (asio cannot interrupt it; its late result is dropped).
boost::asio::awaitable<resolved> resolve(std::string host, std::uint16_t port,
                                         std::chrono::steady_clock::time_point deadline);

}  // namespace mcpgate::net
