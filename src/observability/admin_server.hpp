// The admin listener (`admin:`): /healthz, /readyz, /metrics, /status and /status.json for
// operators and monitoring, on an address of its own (loopback by default), never on a
// data-path listener.
//
// It runs on the io_context it is given (the gateway's control thread, the edge's thread),
// so a scrape never competes with exchanges for a worker. What each page says comes from
// the owner through `admin_pages`; this class only serves HTTP: plain HTTP/1.1, GET and
// HEAD, small bounded requests, keep-alive, the `allow` list checked against the socket
// peer, and the bearer key (also accepted as a Basic password, so a browser can show the
// status page) on every page but /healthz and /readyz, which say nothing an orchestrator's
// probe should need a secret for.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/config.hpp"

namespace mcpgate::observability {

struct admin_pages {
  // Ready to serve: "" when ready, else why not (the 503 body).
  std::function<std::string()> not_ready;
  std::function<boost::asio::awaitable<std::string>()> metrics;      // Prometheus text format 0.0.4
  std::function<boost::asio::awaitable<std::string>()> status_json;  // what the status page shows
};

class admin_server {
 public:
  // Binds settings.listen now; throws std::runtime_error naming the address when it cannot.
  admin_server(boost::asio::io_context& io, const config::admin_settings& settings, admin_pages pages);
  ~admin_server();
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  void start();
  // Stops accepting and closes open admin connections. Call on the io_context's thread, or
  // after it stopped.
  void stop();
  // A reload: the allow list, the key and `metrics` apply to the next request (the address
  // needs a restart). Call on the io_context's thread.
  void update(const config::admin_settings& settings);
  boost::asio::ip::tcp::endpoint endpoint() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace mcpgate::observability
