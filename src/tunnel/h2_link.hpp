// One connector connection as both ends see it: an HTTP/2 session (nghttp2) over the TLS
// connection the connector dialled, carrying one stream per public client connection.
//
// Roles are as in cloudflared: the edge is the HTTP/2 *client* (it opens a stream per
// client connection: CONNECT, :authority = the SNI name, `mcpgate-client-address`), the
// connector is the HTTP/2 *server* (it answers 200 once it has a connection to the gateway,
// else 502, so the edge can try another connection). After the 200 the stream's DATA is the
// client's bytes, unmodified, in both directions; END_STREAM is a half-close, RST_STREAM an
// abort.
//
// Flow control is what bounds memory: nghttp2's automatic WINDOW_UPDATE is off and the
// window of a stream is returned only after its bytes were written to the local side, so a
// slow reader holds at most one stream window of data here, and the sender stops. Reads
// from the local side stop while the previous chunk waits for window. Streams have no idle
// timeout (SSE streams last hours); a dead connection is found by PING (every
// `ping_interval`, closed after `ping_misses` unanswered).
//
// Single-threaded: a link and its streams live on one executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "tunnel/byte_channel.hpp"

struct nghttp2_session;

namespace mcpgate::tunnel {

using tls_socket = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

struct link_settings {
  std::uint32_t stream_window = 4u << 20;       // bytes in flight per stream, each direction
  std::uint32_t connection_window = 64u << 20;  // bytes in flight per connection
  std::uint32_t max_streams = 10000;            // concurrent streams a connector accepts
  std::chrono::milliseconds ping_interval{15000};
  unsigned ping_misses = 2;
};

// The header the edge puts the public client's address in ("ip:port").
constexpr const char* client_address_header = "mcpgate-client-address";

class h2_link : public std::enable_shared_from_this<h2_link> {
 public:
  enum class role { edge, connector };

  // A client connection the edge wants carried: the channel and the bytes already read
  // from it (the ClientHello), which go first.
  struct open_request {
    std::string authority;       // the SNI name
    std::string client_address;  // "ip:port"
    std::string initial;
    std::unique_ptr<byte_channel> client;
  };
  // Called (from the executor, never from inside open_stream) when a stream was not
  // accepted: the connector answered other than 200, reset it, or the link went away
  // first. The request comes back whole so the edge can try another connection.
  using refused_handler = std::function<void(open_request)>;

  // What the edge asked the connector for.
  struct stream_request {
    std::int32_t id = 0;
    std::string authority;
    std::string client_address;
  };

  h2_link(std::unique_ptr<tls_socket> tls, role side, link_settings settings, std::string label);
  ~h2_link();
  h2_link(const h2_link&) = delete;
  h2_link& operator=(const h2_link&) = delete;

  // Connector: each stream the edge opens; answer with accept_stream or refuse_stream,
  // at once or later.
  std::function<void(const stream_request&)> on_stream_request;

  // Runs the session until the connection ends (peer closed, error, PING timeout, or
  // close()); every stream still open is aborted then (the edge's unanswered opens come
  // back through their refused_handler).
  static boost::asio::awaitable<void> run(std::shared_ptr<h2_link> self);

  // Edge: opens a stream for `request`. False (and `request` untouched) when the link takes
  // no new streams.
  bool open_stream(open_request& request, refused_handler on_refused);

  // Connector: the answer to a stream_request.
  void accept_stream(std::int32_t id, std::unique_ptr<byte_channel> local);
  void refuse_stream(std::int32_t id, unsigned status);

  // Graceful: GOAWAY, no new streams; the link ends when its last stream does.
  void go_away();
  // Abort now.
  void close();

  bool accepting() const { return !closed_ && !draining_; }
  bool closed() const { return closed_; }
  std::size_t stream_count() const { return streams_.size(); }
  const std::string& label() const { return label_; }

 private:
  struct relay;
  struct callbacks;
  friend struct callbacks;

  void kick();
  static boost::asio::awaitable<void> write_loop(std::shared_ptr<h2_link> self);
  static boost::asio::awaitable<void> ping_loop(std::shared_ptr<h2_link> self);
  void start_relay(const std::shared_ptr<relay>& r);
  static boost::asio::awaitable<void> pump_to_peer(std::shared_ptr<h2_link> self, std::shared_ptr<relay> r);
  static boost::asio::awaitable<void> pump_to_local(std::shared_ptr<h2_link> self, std::shared_ptr<relay> r);
  void resume(relay& r);
  void reset(relay& r, std::uint32_t error_code);
  void finish_if_done(const std::shared_ptr<relay>& r);
  void drop(const std::shared_ptr<relay>& r);
  void give_back(const std::shared_ptr<relay>& r);
  void return_request(relay& r);
  void teardown();

  std::unique_ptr<tls_socket> tls_;
  role side_;
  link_settings settings_;
  std::string label_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<relay>> streams_;
  std::string out_;  // frames being written
  bool writing_ = false;
  bool closed_ = false;
  bool draining_ = false;
  unsigned pings_unanswered_ = 0;
  boost::asio::steady_timer ping_timer_;
};

}  // namespace mcpgate::tunnel
