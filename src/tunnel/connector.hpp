// The private side of a self-hosted tunnel: dials *out* to the edge (nothing listens in the
// private network), proves it holds the tunnel's token, and serves the edge's streams by
// connecting each one to the gateway.
//
// It keeps `connections` connections to the edge, each redialled on its own with
// randomized exponential backoff (1 s doubling to 30 s, reset after a connection that
// lived a minute). Every failure has its own log line, because each needs a different fix:
// the edge unreachable, its certificate not matching, the token rotated (the token file is
// read again on every attempt, so putting the new token there is enough), the tunnel
// archived or unknown (fatal: the connector stops).
//
// Each stream becomes one connection to the gateway: a WebSocket to its `listen_addr` as
// cloudflared makes it (ws://, the client address as Cf-Connecting-Ip), so the connector
// also fronts Anthropic's own mcp-proxy; or plain TCP (tcp://) with an optional PROXY v2
// header naming the client. The gateway terminates the client's TLS either way.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "tunnel/h2_link.hpp"

namespace mcpgate::tunnel {

struct connector_settings {
  std::string edge;         // host:port of the edge's connector listener
  std::string server_name;  // the name the edge's certificate must carry; "" = the host of `edge`
  std::string ca_file;      // CA bundle for the edge's certificate; "" = the system's
  std::string token_file;
  unsigned connections = 4;
  // Where streams go: ws://host:port[/path] or tcp://host:port (host an IP address or a name
  // resolved once at start).
  std::string to;
  bool proxy_protocol = false;  // tcp:// only: PROXY v2 header first
  std::string name;             // shown in the edge's logs; "" = this host's name
  link_settings link;
  std::chrono::milliseconds dial_timeout{10000};
  std::chrono::milliseconds backoff_min{1000};
  std::chrono::milliseconds backoff_max{30000};
};

// Checks `to` and the other settings; "" when usable, else what is wrong.
std::string check_connector_settings(const connector_settings& settings);

class connector {
 public:
  connector(boost::asio::io_context& io, connector_settings settings);
  ~connector();
  connector(const connector&) = delete;
  connector& operator=(const connector&) = delete;

  void start();
  // SIGTERM: GOAWAY on every connection (the edge sends new streams elsewhere), the streams
  // already open go on up to `grace`, then everything is closed.
  void stop(std::chrono::milliseconds grace);

  // Called once if the connector gives up for good (tunnel archived or unknown), with why.
  std::function<void(const std::string&)> on_fatal;
  // Called each time a connection is established (tests, `mcpgate connect` readiness).
  std::function<void(unsigned connection, const std::string& domain)> on_connected;

  // Called each time the edge refuses the token, with the edge's reason (token_rotated,
  // bad_proof, ...): tests, and later metrics.
  std::function<void(const std::string& reason)> on_refused;

  std::size_t live_connections() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace mcpgate::tunnel
