// Connection counts of one listener, shared by every worker's acceptor and session:
// `max_connections` (all clients) and `max_connections_per_client`.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "http/policy_state.hpp"
#include "net/ip_prefix.hpp"

namespace mcpgate::http {

class listener_connections {
 public:
  // `where`: the listener's config path ("listeners[0]", "listen_addr"), which names its
  // counters and log lines.
  listener_connections(policy_state& policy, std::string where);
  const std::string& where() const { return where_; }

  // Whole listener: counted at accept, before anything is read.
  bool try_open(std::uint32_t limit);
  void close();
  std::size_t open() const { return open_.load(); }

  // Per client network (an IPv4 address, an IPv6 /64), counted once the client is known.
  // The table holds one entry per client with open connections, so its size is bounded
  // by the open connections.
  bool try_open_for(const net::ip_bytes& network, std::uint32_t limit);
  void close_for(const net::ip_bytes& network);

  decision_counter& full_refusals() { return *full_; }
  decision_counter& per_client_refusals() { return *per_client_full_; }

 private:
  std::string where_;
  std::atomic<std::size_t> open_{0};
  std::mutex mutex_;
  std::map<net::ip_bytes, std::uint32_t> per_client_;
  std::shared_ptr<decision_counter> full_;
  std::shared_ptr<decision_counter> per_client_full_;
};

// The network a client is counted as by max_connections_per_client.
inline net::ip_bytes connection_client_network(const net::ip_bytes& address) {
  return net::client_network(address, 32, 64);
}

}  // namespace mcpgate::http
