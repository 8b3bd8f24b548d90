// `mcpgate edge`: the public side of a self-hosted tunnel.
//
// Two listeners. Connectors dial the connector listener (TLS 1.3, the edge's own
// certificate, ALPN mcpgate-tunnel/1), prove they hold a tunnel token (handshake.hpp) and
// then serve HTTP/2 to the edge (h2_link.hpp). Public clients dial the client listener with
// TLS meant for the gateway behind the tunnel: the edge reads their ClientHello only to take
// the server name, finds the tunnel whose domain is that name or a parent of it, and sends
// the client's bytes, unmodified and still encrypted, down a stream of the least busy
// connection of that tunnel. It never terminates the client's TLS: it holds no key for it.
//
// The registry (SQLite) is the truth about tunnels; the edge polls it once a second, so
// `mcpgate tunnel archive` closes a tunnel's connections within about a second and
// `rotate-token` refuses the old token from the next connection on.
//
// One thread: every connection of the edge lives on the io_context given.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/config.hpp"

namespace mcpgate::tunnel {

class edge_server {
 public:
  // Binds both listeners (throws std::runtime_error naming the listener on failure) and
  // opens the registry (throws registry_error).
  edge_server(boost::asio::io_context& io, std::shared_ptr<const config::edge_config> cfg);
  ~edge_server();
  edge_server(const edge_server&) = delete;
  edge_server& operator=(const edge_server&) = delete;

  void start();
  // Stops accepting, asks connectors to finish (GOAWAY), closes what is left after `grace`.
  void stop(std::chrono::milliseconds grace);

  // The admin pages (`admin:`), called on the edge's thread: "" when ready (a connector
  // connection is registered), else why not; Prometheus text; the status page's JSON.
  std::string not_ready() const;
  std::string metrics_text() const;
  std::string status_json() const;

  boost::asio::ip::tcp::endpoint client_endpoint() const;
  boost::asio::ip::tcp::endpoint connector_endpoint() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace mcpgate::tunnel
