#include "http/proxy_session.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <span>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "http/connection_limits.hpp"
#include "http/forwarding.hpp"
#include "http/snapshot.hpp"
#include "http/upstream_set.hpp"
#include "http/wire.hpp"
#include "mcp/jsonrpc.hpp"
#include "auth/authenticate.hpp"
#include "mcp/jsonrpc_error.hpp"
#include "mcp/legacy_sse.hpp"
#include "mcp/session_affinity.hpp"
#include "observability/audit.hpp"
#include "observability/throttle.hpp"
#include "mcp/policy.hpp"
#include "http/worker.hpp"
#include "net/ip_prefix.hpp"
#include "net/proxy_protocol.hpp"
#include "observability/log.hpp"

namespace mcpgate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
// Bytes moved per read while relaying a body. Allocated only while bytes are in flight:
// an idle stream (SSE waiting for its next event) holds none.
constexpr std::size_t relay_chunk = 16 * 1024;
// First read of each request: enough for a typical MCP request header in one recv.
constexpr std::size_t idle_read_size = 1024;
// How long a client may take to accept bytes we write before it is considered gone.
constexpr auto downstream_write_timeout = 60s;
constexpr auto upstream_write_timeout = 60s;
// An exchange still waiting after this long gets a client-disconnect watcher (worker tick).
constexpr auto client_watch_delay = 50ms;

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

bool is_event_stream(const bhttp::response_header<>& res) {
  const std::string_view ct = res[bhttp::field::content_type];
  return ct.substr(0, 17) == "text/event-stream";
}

// Holds the relay buffer only while bytes are in flight, sized to what is waiting: a
// small SSE event takes a small buffer, so thousands of streams relaying at once do not
// push the heap's high-water mark (and so RSS) up by 16 KiB each.
class relay_buffer {
 public:
  char* get(std::size_t want) {
    if (!data_ || size_ < want) {
      data_ = std::make_unique_for_overwrite<char[]>(want);
      size_ = want;
    }
    return data_.get();
  }
  std::size_t size() const { return size_; }
  void release() {
    data_.reset();
    size_ = 0;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
};

// Writes one message: its head once, then body pieces with chunk framing when chunked,
// each call one gathered write (head + size line + data + CRLF [+ last-chunk]).
class message_writer {
 public:
  message_writer(std::string head, bool chunked) : head_(std::move(head)), chunked_(chunked) {}
  bool done() const { return done_; }

  template <class Stream>
  asio::awaitable<error_code> write(Stream& stream, const char* data, std::size_t size, bool last) {
    static constexpr std::string_view crlf = "\r\n";
    static constexpr std::string_view last_chunk = "0\r\n\r\n";
    std::array<asio::const_buffer, 5> parts;
    std::size_t count = 0;
    if (!head_sent_) parts[count++] = asio::buffer(head_);
    if (size > 0) {
      if (chunked_) parts[count++] = asio::buffer(chunk_size_line(size, size_line_));
      parts[count++] = asio::buffer(data, size);
      if (chunked_) parts[count++] = asio::buffer(crlf);
    }
    if (last && chunked_) parts[count++] = asio::buffer(last_chunk);
    done_ = last;
    if (count == 0) co_return error_code{};
    auto [ec, n] = co_await asio::async_write(stream, std::span<const asio::const_buffer>(parts.data(), count), nothrow);
    if (!head_sent_) {
      head_sent_ = true;
      std::string().swap(head_);  // a long-lived stream keeps no copy of its head
    }
    co_return ec;
  }

 private:
  std::string head_;
  bool chunked_;
  bool head_sent_ = false;
  bool done_ = false;
  std::array<char, 20> size_line_{};
};

// Whether the bytes waiting on a downstream socket say the client has left: EOF or an
// error; a TLS alert record (close_notify); inside a WebSocket, a close frame or a binary
// frame carrying a TLS alert. Peeks only: whatever the bytes are, they stay for the reader.
bool peer_has_left(int fd, net::stream_kind kind) {
  std::array<unsigned char, 16> head{};
  const auto got = ::recv(fd, head.data(), head.size(), MSG_PEEK | MSG_DONTWAIT);
  if (got == 0) return true;
  if (got < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  constexpr unsigned char tls_alert = 0x15;
  switch (kind) {
    case net::stream_kind::plain:
      return false;
    case net::stream_kind::tls:
      return head[0] == tls_alert;
    case net::stream_kind::websocket_tls:
      break;
  }
  // A client frame: FIN/RSV/opcode, MASK + length 7, extended length, 4-byte mask, payload.
  // The checks on RSV bits and MASK keep the middle of a frame from passing as a header.
  const unsigned opcode = head[0] & 0x0f;
  const bool rsv_clear = (head[0] & 0x70) == 0;
  const bool masked = (head[1] & 0x80) != 0;
  if (got < 2 || !rsv_clear || !masked) return false;
  if (opcode == 0x8) return (head[0] & 0x80) != 0 && (head[1] & 0x7f) <= 125;  // close frame
  if (opcode != 0x2) return false;
  const unsigned length7 = head[1] & 0x7f;
  const std::size_t mask_at = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0);
  if (static_cast<std::size_t>(got) <= mask_at + 4) return false;
  return (head[mask_at + 4] ^ head[mask_at]) == tls_alert;
}

// MCP's DNS-rebinding rule: a request carrying an Origin the route does not list is
// refused. No Origin (non-browser clients) or no list: allowed.
bool origin_allowed(const config::route& route, std::string_view origin) {
  if (route.allowed_origins.empty() || origin.empty()) return true;
  std::string lowered(origin);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(route.allowed_origins.begin(), route.allowed_origins.end(), lowered) != route.allowed_origins.end();
}

// The request header's size on the wire as the client sent it (give or take whitespace):
// request line, fields, blank line.
std::size_t header_size(const bhttp::request_header<>& req) {
  std::size_t size = req.method_string().size() + 1 + req.target().size() + 11;  // " HTTP/1.1\r\n"
  for (const auto& field : req) size += field.name_string().size() + 2 + field.value().size() + 2;
  return size + 2;
}

// application/json, any case, with or without parameters ("application/json; charset=utf-8").
bool is_json(std::string_view content_type) {
  const auto media = content_type.substr(0, content_type.find(';'));
  const auto end = media.find_last_not_of(" \t");
  return beast::iequals(media.substr(0, end == std::string_view::npos ? 0 : end + 1), "application/json");
}

// Reads the rest of a message body into `out` (grown as needed, bounded by the parser's body
// limit), each read under `gap` of silence at most. Both directions use it: request bodies
// of MCP routes, list answers to filter.
template <class Stream, class Parser>
asio::awaitable<error_code> read_rest_into(Stream& stream, beast::flat_buffer& buffer, Parser& parser, std::string& out,
                                           std::chrono::milliseconds gap) {
  while (!parser.is_done()) {
    const std::size_t used = out.size();
    const std::size_t room = std::max<std::size_t>(out.capacity() - used, relay_chunk);
    out.resize(used + room);
    parser.get().body().data = out.data() + used;
    parser.get().body().size = room;
    stream.tcp().expires_after(gap);
    auto [ec, n] = co_await bhttp::async_read_some(stream, buffer, parser, nothrow);
    out.resize(used + room - parser.get().body().size);
    if (ec && ec != bhttp::error::need_buffer) co_return ec;
  }
  co_return error_code{};
}

// A list answer the gateway filters is read whole; one bigger than this is refused (502)
// rather than passed on unfiltered.
constexpr std::uint64_t max_filtered_response_bytes = 16 * 1024 * 1024;

// Makes the next Beast read on `buffer` ask for up to `want` bytes (within its max_size).
void reserve_read_room(beast::flat_buffer& buffer, std::size_t want) {
  const std::size_t target = std::min(buffer.size() + want, buffer.max_size());
  if (buffer.capacity() < target) buffer.reserve(target);
}

// Relay buffer size for `pending` bytes waiting in the kernel.
std::size_t chunk_size_for(std::size_t pending) { return std::clamp<std::size_t>(pending + 64, 1024, relay_chunk); }

}  // namespace

namespace {

net::maybe_tls_stream make_stream(asio::ip::tcp::socket socket, net::stream_kind kind, asio::ssl::context* tls) {
  beast::tcp_stream tcp(std::move(socket));
  switch (kind) {
    case net::stream_kind::tls:
      return net::maybe_tls_stream(std::move(tcp), *tls);
    case net::stream_kind::websocket_tls:
      return net::maybe_tls_stream(std::move(tcp), *tls, std::in_place_type<net::websocket_bytes>);
    case net::stream_kind::plain:
      break;
  }
  return net::maybe_tls_stream(std::move(tcp));
}

}  // namespace

downstream_session::downstream_session(worker& owner, asio::ip::tcp::socket socket, std::size_t listener_index,
                                       net::stream_kind kind, std::shared_ptr<asio::ssl::context> tls_context,
                                       std::shared_ptr<listener_connections> connections)
    : worker_(owner),
      wait_deadline_(owner.io()),
      stream_(make_stream(std::move(socket), kind, tls_context.get())),
      tls_context_(std::move(tls_context)),
      listener_index_(listener_index),
      connections_(std::move(connections)) {
  error_code ec;
  peer_ = stream_.tcp().socket().remote_endpoint(ec);
  peer_ip_ = ec ? std::string("unknown") : net::unmapped(peer_.address()).to_string();
  client_ip_ = peer_ip_;
  client_address_ = net::to_bytes(peer_.address());
  stream_.tcp().socket().set_option(asio::ip::tcp::no_delay(true), ec);
  worker_.add_session(this);
}

downstream_session::~downstream_session() {
  worker_.remove_session(this);
  if (!connections_) return;
  if (counted_client_) connections_->close_for(*counted_client_);
  connections_->close();
}

void downstream_session::start(std::shared_ptr<downstream_session> session) {
  auto ex = session->stream_.get_executor();
  asio::co_spawn(ex, run(std::move(session)), asio::detached);
}

void downstream_session::request_close() {
  close_requested_ = true;
  if (phase_ == phase::idle) {
    error_code ec;
    stream_.tcp().socket().cancel(ec);  // wakes wait_for_request, which then sees close_requested_
  }
}

void downstream_session::force_close() {
  close_requested_ = true;
  client_gone_ = true;
  error_code ec;
  stream_.tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  stream_.tcp().socket().cancel(ec);
  if (current_upstream_) current_upstream_->stream.tcp().socket().close(ec);
}

asio::awaitable<void> downstream_session::run(std::shared_ptr<downstream_session> self) {
  try {
    // Who the client is (PROXY header, or the upgrade's report on ws) and whether the
    // listener admits it, all before any TLS work.
    bool ready = true;
    if (self->worker_.snapshot()->cfg->listeners[self->listener_index_].proxy_protocol) {
      ready = co_await self->read_proxy_header();
    }
    if (ready && self->stream_.kind() == net::stream_kind::websocket_tls) {
      ready = co_await self->accept_websocket();  // judges the client once the upgrade names it
    } else if (ready) {
      ready = self->listener_admits(*self->worker_.snapshot());
    }
    // No co_await inside &&, || or ?:: g++ 12 may evaluate it whatever the left side says.
    if (ready && self->stream_.is_tls()) ready = co_await self->handshake();
    if (ready) {
      while (co_await self->serve_exchange()) {
      }
    }
    if (self->linger_ && !self->client_gone_ && !self->close_requested_) co_await self->lingering_close();
  } catch (const std::exception& e) {
    // Completion handlers never throw by design; this is the last guard.
    log::http().error("session {}: unexpected exception: {}", self->client_ip_, e.what());
  }
  error_code ec;
  self->stream_.tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  self->stream_.tcp().close();
}

asio::awaitable<bool> downstream_session::accept_websocket() {
  // The upgrade request comes from the proxy in front (cloudflared), not from the client:
  // its only use to us is the client address that proxy reports.
  phase_ = phase::handshake;
  const auto snap = worker_.snapshot();
  const auto& limits = snap->cfg->limits;
  const auto started = clock::now();
  bhttp::request_parser<bhttp::empty_body> parser;
  parser.header_limit(limits.max_request_header_bytes);
  buffer_.max_size(limits.max_request_header_bytes);
  stream_.tcp().expires_after(limits.request_header_timeout);
  auto [ec, n] = co_await bhttp::async_read_header(stream_.tcp(), buffer_, parser, nothrow);

  observability::access_record log;
  log.client = log.peer = peer_ip_;
  auto finish = [&] {
    log.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started);
    observability::write_access_log(log);
    if (snap->cfg->counting()) worker_.metrics().record_exchange(log, std::nullopt);
  };
  if (parser.is_header_done()) {
    const auto& h = parser.get();
    log.method = std::string(h.method_string());
    log.host = std::string(h[bhttp::field::host]);
    log.path = std::string(path_of(h.target()));
  }
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) co_return false;
  if (ec == beast::error::timeout) {
    log.status = 408;
    log.reason = "request_header_timeout";
    finish();
    co_return false;
  }
  if (ec) {
    // Typically a TLS ClientHello sent straight to this port (`curl https://host:8080`):
    // the client then reports "wrong version number", as with Anthropic's proxy.
    co_await refuse_upgrade(400, "bad_request", "Bad request\n", log);
    finish();
    co_return false;
  }
  const auto& req = parser.get();
  if (!beast::websocket::is_upgrade(req)) {
    co_await refuse_upgrade(426, "websocket_required",
                            "This listener carries TLS inside a WebSocket (Anthropic MCP tunnel protocol); "
                            "send requests through the tunnel, not directly\n",
                            log);
    finish();
    co_return false;
  }
  if (buffer_.size() != 0 || !parser.is_done()) {
    // A body, or bytes before our 101: no WebSocket client sends either.
    co_await refuse_upgrade(400, "bad_request", "Bad request\n", log);
    finish();
    co_return false;
  }
  if (snap->trusted_proxies.contains(net::unmapped(peer_.address()))) {
    if (auto reported = forwarded_client_address(req)) {
      client_ip_ = *reported;
      client_address_ = net::to_bytes(asio::ip::make_address(client_ip_));
    }
  }
  if (!listener_admits(*snap)) co_return false;
  auto [aec] = co_await stream_.ws().async_accept(req, nothrow);
  if (aec) {
    observability::log_throttled(log::http(), spdlog::level::info, "websocket upgrade failed",
                                 "websocket upgrade failed: {} client={} peer={}", aec.message(), client_ip_, peer_ip_);
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> downstream_session::read_proxy_header() {
  phase_ = phase::handshake;
  const auto limit = worker_.snapshot()->cfg->limits.request_header_timeout;
  const auto deadline = clock::now() + limit;
  auto& socket = stream_.tcp().socket();
  std::vector<std::uint8_t> peeked(net::max_proxy_header);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) co_return false;
    if (co_await wait_readable(socket, left)) co_return false;
    const auto got = ::recv(socket.native_handle(), peeked.data(), peeked.size(), MSG_PEEK | MSG_DONTWAIT);
    if (got <= 0) co_return false;
    const auto header = net::parse_proxy_header({peeked.data(), static_cast<std::size_t>(got)});
    if (header.state == net::proxy_header_result::status::invalid) {
      observability::log_throttled(log::http(), spdlog::level::info, "proxy protocol header refused",
                                   "proxy protocol header refused: {} peer={}", header.error, peer_ip_);
      co_return false;
    }
    if (header.state == net::proxy_header_result::status::complete) {
      // Consume exactly the header: what follows (a TLS ClientHello) is the next layer's.
      const auto taken = ::recv(socket.native_handle(), peeked.data(), header.length, MSG_DONTWAIT);
      if (taken != static_cast<ssize_t>(header.length)) co_return false;
      if (header.source) {
        client_ip_ = net::unmapped(*header.source).to_string();
        client_address_ = net::to_bytes(*header.source);
      }
      co_return true;
    }
    // Split across segments (rare: senders write the header at once): wait a little.
    asio::steady_timer pause(worker_.io(), std::chrono::milliseconds(5));
    co_await pause.async_wait(nothrow);
  }
}

bool downstream_session::listener_admits(const runtime_snapshot& snap) {
  observability::access_record log;
  log.client = client_ip_;
  log.peer = peer_ip_;
  if (auto refused = refusal(snap.listener_access[listener_index_], client_address_, client_ip_)) {
    log.reason = "ip_denied";
    log.rule = std::move(*refused);
    observability::write_access_log(log);
    if (snap.cfg->counting()) worker_.metrics().record_connection_refusal(log);
    return false;
  }
  const auto per_client = snap.cfg->listeners[listener_index_].max_connections_per_client;
  if (per_client == 0 || !connections_) return true;
  const auto network = connection_client_network(client_address_);
  if (connections_->try_open_for(network, per_client)) {
    counted_client_ = network;
    return true;
  }
  log.reason = "client_connection_limit";
  log.rule = connections_->where() + ".max_connections_per_client";
  observability::write_access_log(log);
  if (snap.cfg->counting()) worker_.metrics().record_connection_refusal(log);
  return false;
}

asio::awaitable<void> downstream_session::refuse_upgrade(unsigned status, std::string_view reason,
                                                         std::string_view body, observability::access_record& log) {
  // Written on the TCP stream itself: nothing has been upgraded, there is no TLS yet.
  log.status = status;
  log.reason = std::string(reason);
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  if (status == 426) res.set(bhttp::field::upgrade, "websocket");
  res.body() = std::string(body);
  res.keep_alive(false);
  res.prepare_payload();
  stream_.tcp().expires_after(downstream_write_timeout);
  auto [ec, n] = co_await bhttp::async_write(stream_.tcp(), res, nothrow);
  if (!ec) log.bytes_out = res.body().size();
  linger_ = true;
}

asio::awaitable<bool> downstream_session::handshake() {
  phase_ = phase::handshake;
  const auto snap = worker_.snapshot();
  stream_.tcp().expires_after(snap->cfg->limits.request_header_timeout);
  auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, nothrow);
  if (ec) {
    // Anthropic's wording first; the OpenSSL reason tells "unknown ca" from "bad certificate".
    // Anyone who can reach the port can fail handshakes (scanners): throttled.
    observability::log_throttled(log::http(), spdlog::level::info, "tls handshake failed",
                                 "tls handshake failed: {} client={}", ec.message(), client_ip_);
    if (snap->cfg->counting()) worker_.metrics().tls_handshake_failed();
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> downstream_session::wait_for_request(std::chrono::milliseconds idle_limit) {
  phase_ = phase::idle;
  if (close_requested_ || worker_.draining()) co_return false;
  if (buffer_.size() > 0) co_return true;  // a pipelined request is already here
  // Read the next request's first bytes directly (a small buffer; an idle keep-alive
  // connection holds only this much). Under load the bytes are usually there already,
  // so this is one recv instead of readiness registration plus recv; and over TLS,
  // OpenSSL may already hold the request, which waiting on the socket would never see.
  buffer_.shrink_to_fit();
  if (idle_limit.count() > 0) {
    stream_.tcp().expires_after(idle_limit);
  } else {
    stream_.tcp().expires_never();
  }
  auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(idle_read_size), nothrow);
  buffer_.commit(n);
  co_return !ec && !close_requested_;
}

asio::awaitable<bool> downstream_session::serve_exchange() {
  const auto snap = worker_.snapshot();
  const auto& limits = snap->cfg->limits;
  if (!co_await wait_for_request(limits.keepalive_timeout)) co_return false;
  phase_ = phase::busy;
  const auto started = clock::now();

  observability::access_record log;
  log.client = client_ip_;
  log.peer = peer_ip_;
  mcp_exchange mcp;
  upstream_header_time_.reset();
  auto finish = [&] {
    log.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started);
    observability::write_access_log(log);
    if (mcp.request && observability::audit_enabled()) write_audit_records(*snap, mcp, log);
    if (snap->cfg->counting()) worker_.metrics().record_exchange(log, upstream_header_time_);
    ++worker_.stats().exchanges;
  };

  request_parser parser;
  parser.header_limit(snap->parse_header_limit);
  parser.body_limit(snap->parse_body_limit);
  buffer_.max_size(snap->parse_header_limit + relay_chunk);
  stream_.tcp().expires_after(limits.request_header_timeout);
  auto [ec, n] = co_await bhttp::async_read_header(stream_, buffer_, parser, nothrow);
  if (parser.is_header_done()) {
    const auto& h = parser.get();
    log.method = std::string(h.method_string());
    log.host = std::string(h[bhttp::field::host]);
    log.path = std::string(path_of(h.target()));
    if (auto sid = h["Mcp-Session-Id"]; !sid.empty()) log.mcp_session = std::string(sid);
  }
  if (ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == beast::websocket::error::closed) {
      co_return false;  // the client went away between exchanges: nothing to log
    }
    if (ec == beast::error::timeout) {
      // The timed-out stream is already closed (Beast closes on expiry): log only.
      log.status = 408;
      log.reason = "request_header_timeout";
    } else if (ec == bhttp::error::body_limit) {  // Content-Length alone already exceeds it
      co_await local_reply(413, "body_too_large", "Request body too large\n", log, false);
    } else if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      co_await local_reply(431, "request_header_too_large", "Request header too large\n", log, false);
    } else {
      co_await local_reply(400, "bad_request", "Bad request\n", log, false);
    }
    finish();
    co_return false;
  }

  auto& req = parser.get();
  // Behind a trusted reverse proxy (plain / tls listeners) each request names its own
  // client: one proxy connection carries many clients' requests. (On a ws listener the
  // client was settled at the upgrade; what it sends inside the tunnel is its own word.)
  exchange_client_ = client_ip_;
  exchange_address_ = client_address_;
  if (stream_.kind() != net::stream_kind::websocket_tls && snap->cfg->trusted_proxies_set &&
      snap->trusted_proxies.contains(net::unmapped(peer_.address()))) {
    if (auto reported = client_behind_proxies(req, snap->trusted_proxies)) {
      exchange_client_ = *reported;
      exchange_address_ = net::to_bytes(asio::ip::make_address(*reported));
    }
  }
  log.client = exchange_client_;
  log::http().info("request started method={} host={} path={} client={}", log.method, log.host, log.path, exchange_client_);

  // Framing and target checks before anything reaches an upstream (request smuggling,
  // path confusion): both length mechanisms, several Host fields, non-origin-form targets.
  const auto target = req.target();
  const bool ambiguous_length = req.count(bhttp::field::content_length) > 0 && req.count(bhttp::field::transfer_encoding) > 0;
  const bool host_ok = req.count(bhttp::field::host) == 1 || (req.version() == 10 && req.count(bhttp::field::host) == 0);
  if (ambiguous_length || !host_ok || target.empty() || target.front() != '/' || has_dot_segments(target)) {
    co_await local_reply(400, "bad_request", "Bad request\n", log, false);
    finish();
    co_return false;
  }

  if (const auto* described = metadata_route(*snap, log.host, log.path);
      described && (req.method() == bhttp::verb::get || req.method() == bhttp::verb::head)) {
    // Public by design (clients need it before they have a token), but only to clients the
    // route itself admits.
    log.route = described->name;
    if (auto refused = refusal(snap->access_of(*described), exchange_address_, exchange_client_)) {
      log.rule = std::move(*refused);
      const bool keep_alive = co_await refuse(403, "ip_denied", "Forbidden\n", log, parser);
      finish();
      co_return keep_alive;
    }
    // Browser-based clients read it from another origin.
    reply_fields cors;
    cors.emplace_back("Access-Control-Allow-Origin", "*");
    co_await write_reply(200, "oauth_metadata", "application/json", auth::metadata_document(*described->auth.oauth),
                         log, true, std::nullopt, cors);
    finish();
    co_return !close_requested_;
  }

  const auto* route = snap->routes.match(log.host, target);
  if (!route) {
    log::http().info("no route for host host={} path={} client={}", log.host, log.path, exchange_client_);
    const bool keep_alive = co_await refuse(502, "no_route", "No route configured for host\n", log, parser);
    finish();
    co_return keep_alive;
  }
  log.route = route->name;
  const auto& access = snap->access_of(*route);
  if (auto refused = refusal(access, exchange_address_, exchange_client_)) {
    log.reason = "ip_denied";
    log.rule = std::move(*refused);
    if (access.action == config::access_rule::deny_action::abort) {
      finish();  // Caddy's `abort`: the connection closes without a response
      co_return false;
    }
    const bool keep_alive = co_await refuse(403, "ip_denied", "Forbidden\n", log, parser, route);
    finish();
    co_return keep_alive;
  }
  if (!origin_allowed(*route, req[bhttp::field::origin])) {
    const bool keep_alive = co_await refuse(403, "origin_denied", "Forbidden: Origin not allowed\n", log, parser, route);
    finish();
    co_return keep_alive;
  }
  // The parser read with the largest limits of any route; this route's own apply now.
  if (header_size(req) > snap->header_limit_of(*route)) {
    co_await local_reply(431, "request_header_too_large", "Request header too large\n", log, false, route);
    finish();
    co_return false;
  }
  const auto body_limit = snap->body_limit_of(*route);
  if (const auto length = parser.content_length(); length && *length > body_limit) {
    co_await local_reply(413, "body_too_large", "Request body too large\n", log, false, route);
    finish();
    co_return false;
  }
  if (!parser.is_done()) parser.body_limit(body_limit);
  if (route->auth.enabled()) {
    const auto refused = co_await authenticate(*snap, *route, parser, log, mcp.caller);
    if (refused) {
      finish();
      co_return *refused;
    }
  }

  // MCP routes: a POST body is read whole and parsed once; every later decision (rate-limit
  // keys, tool policy, logs) uses what it says, never a header alone.
  // Other content types pass through unread (an OAuth token endpoint behind an MCP route
  // takes forms), unless a rule must judge the body: then they are refused.
  mcp.route = route;
  auto& inspected = mcp.request;
  // An API key limited to some tools makes every call of its caller a judged one.
  const bool judged = route->judges_mcp_body() || mcp::caller_tools_rule(&mcp.caller);
  if (route->mcp && req.method() == bhttp::verb::post && !is_json(req[bhttp::field::content_type]) && judged) {
    const bool keep_alive = co_await refuse(415, "unsupported_media_type",
                                            "Unsupported Media Type: MCP messages are sent as application/json\n", log,
                                            parser, route);
    finish();
    co_return keep_alive;
  }
  if (route->mcp && req.method() == bhttp::verb::post && is_json(req[bhttp::field::content_type])) {
    if (!co_await read_whole_body(parser, mcp.body, log, *route)) {
      finish();
      co_return false;
    }
    inspected = mcp::inspect_request(mcp.body);
    if (!inspected->messages.empty()) {
      const auto& first = inspected->messages.front();
      log.mcp_method = first.method + (inspected->batch ? "+" : "");
      log.mcp_name = first.name;
    }
    std::optional<std::pair<int, std::string>> invalid;
    if (inspected->error_code == mcp::parse_error || (!inspected->ok() && judged)) {
      invalid.emplace(inspected->error_code, inspected->error);
    } else if (auto mismatch = mcp::routing_header_mismatch(
                   *inspected, {req["Mcp-Method"], req["Mcp-Name"], req["MCP-Protocol-Version"]})) {
      invalid.emplace(mcp::header_mismatch, "Header mismatch: " + *mismatch);
    }
    // JSON that is not JSON-RPC (an OAuth client registration) goes on as it came when no
    // rule needs to judge it.
    if (invalid) {
      const std::string_view reason = invalid->first == mcp::header_mismatch ? "mcp_header_mismatch" : "invalid_jsonrpc";
      const auto body = mcp::jsonrpc_error_body({.message = invalid->second, .reason = reason, .code = invalid->first});
      co_await write_reply(400, reason, "application/json", body, log, true);
      finish();
      co_return !close_requested_;
    }
  }
  if (auto retry_after = rate_limited(*snap, *route, log, inspected ? &*inspected : nullptr)) {
    const bool keep_alive = co_await refuse(429, "rate_limited", "Rate limit exceeded\n", log, parser, route, retry_after);
    finish();
    co_return keep_alive;
  }
  if (inspected && (!route->policy.empty() || mcp::caller_tools_rule(&mcp.caller))) {
    if (auto refusal_body = refused_calls(*snap, *route, *inspected, mcp.caller, log)) {
      const unsigned status = refusal_body->empty() ? 202 : 200;
      co_await write_reply(status, "tool_denied", "application/json", *refusal_body, log, true);
      finish();
      co_return !close_requested_;
    }
  }
  log.upstream = route->upstream.to_string();

  if (inspected) mcp.list_filters = mcp::list_filters(route->policy, *inspected, &mcp.caller);
  const bool keep_alive = co_await proxy(*snap, *route, parser, log, mcp);
  finish();
  co_return keep_alive && !close_requested_ && !client_gone_;
}

asio::awaitable<bool> downstream_session::read_whole_body(request_parser& parser, std::string& out,
                                                          observability::access_record& log,
                                                          const config::route& route) {
  if (parser.is_done()) co_return true;
  if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
    static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
    stream_.tcp().expires_after(downstream_write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(continue_line), nothrow);
    if (ec) co_return false;
  }
  if (const auto length = parser.content_length()) out.reserve(static_cast<std::size_t>(*length));
  const auto ec =
      co_await read_rest_into(stream_, buffer_, parser, out, worker_.snapshot()->cfg->limits.request_body_timeout);
  if (ec) {
    co_await request_body_failed(ec, log, route);
    co_return false;
  }
  log.bytes_in += out.size();
  co_return true;
}

asio::awaitable<void> downstream_session::request_body_failed(error_code ec, observability::access_record& log,
                                                              const config::route& route) {
  if (ec == bhttp::error::body_limit) {
    co_await local_reply(413, "body_too_large", "Request body too large\n", log, false, &route);
  } else if (ec == beast::error::timeout) {
    log.status = 408;  // the stream is closed already; nothing more can be said to the client
    log.reason = "request_body_timeout";
  } else {
    log.reason = "client_aborted";
  }
}

void downstream_session::release_upstream(upstream_connection_ptr upstream, bool reusable) {
  stop_watching();
  if (!reusable || client_gone_) return;
  upstream->stream.tcp().expires_never();
  current_upstream_ = nullptr;
  worker_.pool().give_back(std::move(upstream));
}

asio::awaitable<error_code> downstream_session::read_upstream_body(upstream_connection& upstream,
                                                                   bhttp::response_parser<bhttp::buffer_body>& parser,
                                                                   std::string& out, const config::route& route) {
  co_return co_await read_rest_into(upstream.stream, upstream.buffer, parser, out, route.timeouts.response_header);
}

// Not coroutines: their temporaries (decoded ids, filter outcomes) stay off the frame that
// a long stream keeps for its whole life.
std::optional<std::size_t> downstream_session::choose_instance(const runtime_snapshot& snap, const config::route& route,
                                                               upstream_set& instances, request_parser::value_type& req) {
  const auto session = req["mcp-session-id"];
  if (session.empty()) return instances.pick();
  // Only ids the gateway made (authenticated with the affinity key) name an instance;
  // anything else is a session no instance can have: 404, and the client re-initializes.
  const auto affine = mcp::decode_affine_session(snap.affinity_key, session);
  if (!affine) return std::nullopt;
  for (std::size_t i = 0; i < route.instances.size(); ++i) {
    if (route.instances[i].to_string() == affine->instance) {
      req.set("Mcp-Session-Id", affine->upstream_session);
      return i;
    }
  }
  return std::nullopt;
}

bool downstream_session::filter_list_piece(const runtime_snapshot& snap, mcp::list_event_filter& filter,
                                           std::string_view piece, bool last, std::string& out) {
  mcp::filter_outcome outcome;
  auto filtered = filter.feed(piece, last, outcome);
  if (!filtered) return false;
  note_hidden(snap, outcome);
  out = std::move(*filtered);
  return true;
}

asio::awaitable<bool> downstream_session::proxy(const runtime_snapshot& snap, const config::route& route,
                                                request_parser& parser, observability::access_record& log,
                                                mcp_exchange& mcp) {
  const std::string* whole_body = mcp.request ? &mcp.body : nullptr;
  const auto& list_filters = mcp.list_filters;
  const auto& limits = snap.cfg->limits;
  auto& req = parser.get();
  const bool has_body = !whole_body && !parser.is_done();  // still to be streamed from the client
  const bool client_keep_alive = req.keep_alive();
  const unsigned client_version = req.version();
  const bool head_request = req.method() == bhttp::verb::head;

  // --- which instance: the one holding the session, else the least busy fit one --------
  const auto& instances = snap.route_upstreams[snap.index_of(route)];
  std::size_t instance = 0;
  if (instances) {
    const auto chosen = choose_instance(snap, route, *instances, req);
    if (!chosen) co_return co_await refuse(404, "session_unknown", "Session not found\n", log, parser, &route);
    instance = *chosen;
  }
  const config::upstream_target& target = route.targets()[instance];
  const upstream_busy busy(instances, instance);
  log.upstream = target.to_string();

  // --- upstream connection: pooled, else dialed with address validation -------------
  upstream_connection_ptr upstream = worker_.pool().take(pool_key_of(route, target));
  if (!upstream) {
    auto dialed = co_await dial_upstream(route, target, snap);
    if (!dialed.connection && instances) instances->dial_failed(instance);
    if (!dialed.connection) {
      // An upstream that is down fails every request: one line per second says so.
      if (auto held = observability::warnings().admit("upstream unavailable " + route.name)) {
        log::http().warn("upstream unavailable route={} upstream={} reason={}: {}{}", route.name, target.to_string(),
                         dialed.reason, dialed.detail, observability::held_back(*held));
      }
      co_await local_reply(dialed.status, dialed.reason,
                           dialed.status == 504 ? "Upstream timeout\n" : "Bad gateway\n", log, false, &route);
      co_return false;
    }
    upstream = std::move(dialed.connection);
  }
  current_upstream_ = upstream.get();
  struct clear_current {
    upstream_connection*& slot;
    ~clear_current() { slot = nullptr; }
  } clear_on_exit{current_upstream_};

  // --- request header + body, streamed -----------------------------------------------
  forward_context fwd{exchange_client_, stream_.is_tls(), std::string(req[bhttp::field::host]), &target};
  const bool expects_continue = beast::iequals(req[bhttp::field::expect], "100-continue");
  const bool chunked_upload = has_body && req.chunked();
  // Rewritten in place (no copy of every field): from here on the parser needs only its
  // own framing state, which it took from the header when it parsed it.
  auto& up_head = req.base();
  prepare_upstream_request(up_head, route, fwd);
  up_head.version(11);  // HTTP/1.1 without "Connection: close": pooled keep-alive upstream
  if (chunked_upload) up_head.set(bhttp::field::transfer_encoding, "chunked");  // re-chunked
  if (whole_body) {  // read (and inspected) already: sent with its length, whatever the client's framing
    up_head.erase(bhttp::field::transfer_encoding);
    up_head.set(bhttp::field::content_length, std::to_string(whole_body->size()));
  }
  message_writer up_writer(request_head(up_head), chunked_upload);

  relay_buffer chunk;
  if (has_body && expects_continue) {
    static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
    stream_.tcp().expires_after(downstream_write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(continue_line), nothrow);
    if (ec) co_return false;
  }
  // Without a body the header goes now; with one, it leaves together with the first
  // body piece (one write instead of two: a small MCP POST costs one syscall upstream).
  if (!has_body) {
    upstream->stream.tcp().expires_after(upstream_write_timeout);
    const auto ec = co_await up_writer.write(upstream->stream, whole_body ? whole_body->data() : nullptr,
                                             whole_body ? whole_body->size() : 0, true);
    if (ec) {
      co_await local_reply(502, "upstream_reset", "Bad gateway\n", log, false, &route);
      co_return false;
    }
  }
  while (has_body && !parser.is_done()) {
    req.body().data = chunk.get(relay_chunk);
    req.body().size = chunk.size();
    reserve_read_room(buffer_, relay_chunk);
    stream_.tcp().expires_after(limits.request_body_timeout);
    auto [rec, rn] = co_await bhttp::async_read_some(stream_, buffer_, parser, nothrow);
    if (rec == bhttp::error::need_buffer) rec = {};
    if (rec) {
      co_await request_body_failed(rec, log, route);
      co_return false;
    }
    const auto got = chunk.size() - req.body().size;
    const bool last = parser.is_done();
    if (got == 0 && !last) continue;  // only framing arrived
    log.bytes_in += got;
    upstream->stream.tcp().expires_after(upstream_write_timeout);
    const auto wec = co_await up_writer.write(upstream->stream, got ? chunk.get(got) : nullptr, got, last);
    if (wec) {
      co_await local_reply(502, "upstream_reset", "Bad gateway\n", log, false, &route);
      co_return false;
    }
  }
  chunk.release();

  // --- response header ----------------------------------------------------------------
  // A client that disconnects while its tool call runs must not leave the upstream
  // working for nobody: the watcher closes the upstream connection. Most exchanges end
  // within milliseconds, so the watcher is armed by the worker's tick only for those
  // still running after client_watch_delay (arming costs a readiness registration).
  watch_due_ = clock::now() + client_watch_delay;
  struct stop_watch {
    downstream_session* s;
    ~stop_watch() { s->stop_watching(); }
  } stop_on_exit{this};

  std::optional<bhttp::response_parser<bhttp::buffer_body>> res_parser;
  error_code ec;
  const auto asked = clock::now();
  for (;;) {
    res_parser.emplace();
    res_parser->header_limit(limits.max_response_header_bytes);
    res_parser->body_limit(boost::none);
    if (head_request) res_parser->skip(true);
    upstream->stream.tcp().expires_after(route.timeouts.response_header);
    auto [hec, hn] = co_await bhttp::async_read_header(upstream->stream, upstream->buffer, *res_parser, nothrow);
    ec = hec;
    // Interim responses (100, 103) are the upstream's business with us; the client got
    // its 100-continue from the gateway.
    if (ec || res_parser->get().result_int() >= 200 || res_parser->get().result_int() == 101) break;
  }
  if (!ec) upstream_header_time_ = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - asked);
  if (client_gone_) {
    log.reason = "client_disconnected";
    co_return false;
  }
  if (ec) {
    const bool timeout = ec == beast::error::timeout;
    if (auto held = observability::warnings().admit("upstream response failed " + route.name)) {
      log::http().warn("upstream response failed route={} upstream={}: {}{}", route.name, target.to_string(),
                       ec.message(), observability::held_back(*held));
    }
    co_await local_reply(timeout ? 504 : 502, timeout ? "upstream_timeout" : "upstream_reset",
                         timeout ? "Upstream timeout\n" : "Bad gateway\n", log, false, &route);
    co_return false;
  }

  auto& up_res = res_parser->get();
  if (instances) {
    // The client sees a session id that names this instance (and cannot be forged).
    const auto session = up_res["mcp-session-id"];
    if (!session.empty()) {
      up_res.set("Mcp-Session-Id", mcp::encode_affine_session(snap.affinity_key, target.to_string(), session));
    }
  }
  if (mcp.request && observability::audit_enabled() && !head_request) {
    mcp.answers.emplace(*mcp.request, is_event_stream(up_res));
  }
  // A list answer in JSON whose entries a rule hides is read whole, filtered, and sent
  // with its new length. (In SSE it is filtered event by event as it passes, below.)
  const bool filter_lists = !list_filters.empty() && !head_request && up_res.result_int() == 200;
  if (filter_lists && is_json(up_res[bhttp::field::content_type])) {
    std::string body;
    res_parser->body_limit(max_filtered_response_bytes);
    const auto read_ec = co_await read_upstream_body(*upstream, *res_parser, body, route);
    if (read_ec) {
      observability::log_throttled(log::http(), spdlog::level::warn, "upstream response not filtered " + route.name,
                                   "upstream response not filtered route={} upstream={}: {}", route.name,
                                   target.to_string(), read_ec.message());
      const bool too_large = read_ec == bhttp::error::body_limit;
      co_await local_reply(502, too_large ? "upstream_response_too_large" : "upstream_reset",
                           too_large ? "Upstream response too large to filter\n" : "Bad gateway\n", log, false, &route);
      co_return false;
    }
    auto outcome = mcp::filter_list_responses(body, list_filters);
    if (mcp.answers) {
      mcp.answers->feed(body);
      mcp.answers->finish();
    }
    note_hidden(snap, outcome);
    if (outcome.rewritten) body = std::move(*outcome.rewritten);
    auto& head = up_res.base();
    head.version(11);
    prepare_downstream_response(head);
    head.erase(bhttp::field::transfer_encoding);
    head.set(bhttp::field::content_length, std::to_string(body.size()));
    const bool keep = client_keep_alive && !close_requested_ && !worker_.draining();
    if (!keep) head.set(bhttp::field::connection, "close");
    else if (client_version == 10) head.set(bhttp::field::connection, "keep-alive");
    log.status = up_res.result_int();
    message_writer writer(response_head(head), false);
    stream_.tcp().expires_after(downstream_write_timeout);
    if (co_await writer.write(stream_, body.data(), body.size(), true)) {
      log.reason = "client_disconnected";
      co_return false;
    }
    log.bytes_out += body.size();
    release_upstream(std::move(upstream), res_parser->keep_alive());
    co_return keep;
  }
  const bool sse = is_event_stream(up_res);
  // Open SSE streams (a gauge): counted while this exchange relays one.
  struct sse_gauge {
    observability::worker_metrics* metrics;
    ~sse_gauge() {
      if (metrics) metrics->sse_ended();
    }
  } sse_counted{sse && snap.cfg->counting() ? &worker_.metrics() : nullptr};
  if (sse_counted.metrics) sse_counted.metrics->sse_started();
  // A route mounted under a stripped prefix: the legacy SSE transport's endpoint events
  // name the upstream's paths and are rewritten to go through the prefix. The stream's
  // length then changes: it goes out chunked (close-delimited to HTTP/1.0 clients).
  // (Held by pointer: every other exchange's coroutine frame stays as small as it was.)
  std::unique_ptr<mcp::endpoint_rewriter> endpoints;
  if (sse && route.strip_path && route.path != "/" && !head_request && !res_parser->is_done()) {
    endpoints = std::make_unique<mcp::endpoint_rewriter>(route.path, target);
    up_res.erase(bhttp::field::content_length);
  }
  // A list answer inside an SSE stream: each event is judged when it is complete, so the
  // server's other messages on the stream are not held back until the answer.
  std::unique_ptr<mcp::list_event_filter> list_events;
  if (sse && filter_lists && !res_parser->is_done()) {
    list_events = std::make_unique<mcp::list_event_filter>(list_filters, max_filtered_response_bytes);
    up_res.erase(bhttp::field::content_length);
  }
  const bool length_known = up_res.has_content_length() || res_parser->is_done() || head_request ||
                            up_res.result_int() == 204 || up_res.result_int() == 304;
  auto& head = up_res.base();  // in place, as the request: the parser keeps its framing state
  head.version(11);
  prepare_downstream_response(head);
  bool downstream_keep_alive = client_keep_alive && !close_requested_ && !worker_.draining();
  // Unknown length (chunked or close-delimited upstream): chunked to HTTP/1.1 clients,
  // delimited by closing for HTTP/1.0 ones.
  const bool chunked_reply = !length_known && client_version >= 11;
  if (!length_known && !chunked_reply) downstream_keep_alive = false;
  if (chunked_reply) head.set(bhttp::field::transfer_encoding, "chunked");
  if (!downstream_keep_alive) {
    head.set(bhttp::field::connection, "close");
  } else if (client_version == 10) {
    head.set(bhttp::field::connection, "keep-alive");
  }
  log.status = up_res.result_int();
  message_writer writer(response_head(head), chunked_reply);

  // The header is written on its own only when the body is not here yet (an SSE stream
  // whose first event comes later must not hold back the header). A body that arrived
  // with the header, or no body at all, leaves in the same write as the header.
  const bool body_already_here = up_res.has_content_length() && upstream->buffer.size() > 0;
  if (!res_parser->is_done() && !body_already_here) {
    stream_.tcp().expires_after(downstream_write_timeout);
    const auto wec = co_await writer.write(stream_, nullptr, 0, false);
    if (wec) {
      log.reason = "client_disconnected";
      co_return false;
    }
  }

  // --- response body, relayed read by read (each SSE event is written when it arrives) ---
  const auto body_idle = sse ? route.timeouts.stream_idle : route.timeouts.response_header;
  // Everything below needs only the parsers' framing state: drop what a long stream would
  // otherwise keep for hours (the response's header fields, an empty read buffer).
  head.clear();
  if (buffer_.size() == 0) buffer_.shrink_to_fit();
  std::size_t last_read = 0;  // bytes the previous read took from the upstream
  while (!res_parser->is_done()) {
    std::size_t want = upstream->buffer.size() > 0 ? chunk_size_for(upstream->buffer.size()) : relay_chunk;
    if (upstream->buffer.size() == 0 && !upstream->stream.is_tls()) {
      // Idle in the kernel, not in a buffer: what lets thousands of quiet SSE streams
      // stay cheap. (TLS may hold a decrypted record inside OpenSSL, so over TLS we go
      // straight to the read.)
      chunk.release();
      upstream->buffer.shrink_to_fit();  // empty here: Beast allocates again on the next read
      auto& socket = upstream->stream.tcp().socket();
      const auto wec = co_await wait_readable(socket, body_idle);
      if (wec) {
        ec = wec;
        break;
      }
      error_code aec;
      want = chunk_size_for(socket.available(aec));
    }
    // Beast reads max(512, free capacity) bytes at a time: a busy stream needs room for what
    // is waiting, or it moves in 512-byte reads (the buffer is emptied between bursts).
    // Small events keep Beast's 512 bytes (5,000 quiet streams each taking 1 KiB at once
    // would raise the heap's high-water mark); over TLS, where the kernel cannot say what is
    // waiting, room follows a full read, and a quiet stream gives it back.
    if (!upstream->stream.is_tls()) {
      if (want > 1024) reserve_read_room(upstream->buffer, want);
    } else if (last_read >= 512) {
      reserve_read_room(upstream->buffer, relay_chunk);
    } else if (upstream->buffer.size() == 0) {
      upstream->buffer.shrink_to_fit();
    }
    res_parser->get().body().data = chunk.get(want);
    res_parser->get().body().size = chunk.size();
    if (body_idle.count() > 0) {
      upstream->stream.tcp().expires_after(body_idle);
    } else {
      upstream->stream.tcp().expires_never();
    }
    auto [rec, rn] = co_await bhttp::async_read_some(upstream->stream, upstream->buffer, *res_parser, nothrow);
    if (rec == bhttp::error::need_buffer) rec = {};
    if (rec) {
      ec = rec;
      break;
    }
    std::size_t got = chunk.size() - res_parser->get().body().size;
    last_read = rn;
    // More chunks already received: parse them into the rest of the piece now, so a fast
    // chunked stream (one chunk per SSE event) leaves in big writes, not one per chunk.
    // Only bytes that have arrived: an incomplete chunk waits for the next read.
    error_code parse_ec;
    while (!res_parser->is_done() && upstream->buffer.size() > 0 && got < chunk.size()) {
      auto& body = res_parser->get().body();
      body.data = chunk.get(chunk.size()) + got;
      body.size = chunk.size() - got;
      const auto used = res_parser->put(upstream->buffer.data(), parse_ec);
      upstream->buffer.consume(used);
      const auto added = chunk.size() - got - body.size;
      got += added;
      if (parse_ec == bhttp::error::need_more || parse_ec == bhttp::error::need_buffer) parse_ec = {};
      if (parse_ec || (used == 0 && added == 0)) break;
    }
    if (parse_ec) {
      ec = parse_ec;
      break;
    }
    const bool last = res_parser->is_done();
    if (got == 0 && !last) continue;  // only framing arrived
    if (mcp.answers && got) mcp.answers->feed({chunk.get(got), got});
    const char* out = got ? chunk.get(got) : nullptr;
    std::size_t out_size = got;
    std::string rewritten;
    std::string listed;
    if (list_events) {
      if (!filter_list_piece(snap, *list_events, {out, out_size}, last, listed)) {
        // An event too large to judge: cutting the stream is the only way not to pass it on.
        observability::log_throttled(log::http(), spdlog::level::warn, "upstream response not filtered " + route.name,
                                     "upstream response not filtered route={} upstream={}: an event over {} bytes",
                                     route.name, target.to_string(), max_filtered_response_bytes);
        log.reason = "upstream_response_too_large";
        co_return false;
      }
      out = listed.data();
      out_size = listed.size();
      if (out_size == 0 && !last) continue;  // an incomplete event: sent once it is whole
    }
    if (endpoints) {
      rewritten = endpoints->feed({out, out_size}, last);
      out = rewritten.data();
      out_size = rewritten.size();
      if (out_size == 0 && !last) continue;  // an incomplete event: sent once it is whole
    }
    log.bytes_out += out_size;
    stream_.tcp().expires_after(downstream_write_timeout);
    const auto wec = co_await writer.write(stream_, out, out_size, last);
    if (wec || client_gone_) {
      log.reason = "client_disconnected";
      co_return false;
    }
  }
  if (ec) {
    // The response header is out: the only honest signal left is to cut the connection
    // (an unterminated chunked body tells the client the response is incomplete).
    log.reason = client_gone_ ? "client_disconnected"
                 : ec == beast::error::timeout ? "stream_idle_timeout" : "upstream_reset";
    co_return false;
  }
  if (!writer.done()) {
    stream_.tcp().expires_after(downstream_write_timeout);
    const auto wec = co_await writer.write(stream_, nullptr, 0, true);
    if (wec) {
      log.reason = "client_disconnected";
      co_return false;
    }
  }
  if (mcp.answers) mcp.answers->finish();

  release_upstream(std::move(upstream), res_parser->keep_alive());
  co_return downstream_keep_alive;
}

asio::awaitable<void> downstream_session::local_reply(unsigned status, std::string_view reason, std::string_view body,
                                                      observability::access_record& log, bool keep_alive,
                                                      const config::route* route, std::optional<std::uint64_t> retry_after,
                                                      const reply_fields& fields) {
  if (route && route->mcp) {
    while (!body.empty() && body.back() == '\n') body.remove_suffix(1);
    const auto json = mcp::jsonrpc_error_body({.message = body, .reason = reason, .retry_after_seconds = retry_after});
    co_await write_reply(status, reason, "application/json", json, log, keep_alive, retry_after, fields);
  } else {
    co_await write_reply(status, reason, "text/plain; charset=utf-8", body, log, keep_alive, retry_after, fields);
  }
}

asio::awaitable<void> downstream_session::write_reply(unsigned status, std::string_view reason,
                                                      std::string_view content_type, std::string_view body,
                                                      observability::access_record& log, bool keep_alive,
                                                      std::optional<std::uint64_t> retry_after,
                                                      const reply_fields& fields) {
  ++worker_.stats().local_replies;
  log.status = status;
  log.reason = std::string(reason);
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, content_type);
  res.body() = std::string(body);
  res.set(bhttp::field::cache_control, "no-store");
  if (retry_after) res.set(bhttp::field::retry_after, std::to_string(*retry_after));
  for (const auto& [name, value] : fields) res.set(name, value);
  res.keep_alive(keep_alive && !close_requested_);
  res.prepare_payload();
  // Closing after an early reply while the client still sends its body would make the
  // kernel answer with a reset that can destroy the reply before the client reads it.
  linger_ = !res.keep_alive();
  stream_.tcp().expires_after(downstream_write_timeout);
  auto [ec, n] = co_await bhttp::async_write(stream_, res, nothrow);
  if (!ec) log.bytes_out += res.body().size();
}

asio::awaitable<bool> downstream_session::refuse(unsigned status, std::string_view reason, std::string_view body,
                                                observability::access_record& log, request_parser& parser,
                                                const config::route* route, std::optional<std::uint64_t> retry_after,
                                                const reply_fields& fields) {
  // Reading a small body to its end keeps the connection for the client's next request
  // (a rate-limited client that must reconnect every time costs both sides more); a large
  // one is not worth reading, so the reply closes the connection (after a lingering close).
  constexpr std::uint64_t max_discarded_body = 64 * 1024;
  bool complete = parser.is_done();
  if (!complete && !close_requested_ && parser.content_length().value_or(0) <= max_discarded_body) {
    const auto limits = worker_.snapshot()->cfg->limits;
    parser.body_limit(max_discarded_body);
    std::array<char, 4096> sink;
    while (!parser.is_done()) {
      parser.get().body().data = sink.data();
      parser.get().body().size = sink.size();
      stream_.tcp().expires_after(limits.request_body_timeout);
      auto [ec, n] = co_await bhttp::async_read_some(stream_, buffer_, parser, nothrow);
      if (ec && ec != bhttp::error::need_buffer) break;
    }
    complete = parser.is_done();
  }
  co_await local_reply(status, reason, body, log, complete, route, retry_after, fields);
  co_return complete && !close_requested_ && !linger_;
}

asio::awaitable<void> downstream_session::lingering_close() {
  // Half-close, then read and drop what the client still sends, for a bounded time, so
  // our reply is not lost to a reset (what nginx calls lingering close).
  error_code ec;
  stream_.tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  constexpr auto linger_total = 5s;
  constexpr auto linger_gap = 1s;
  const auto deadline = clock::now() + linger_total;
  std::array<char, 4096> sink;
  while (clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    stream_.tcp().expires_after(std::min<std::chrono::milliseconds>(linger_gap, left));
    auto [rec, n] = co_await stream_.tcp().async_read_some(asio::buffer(sink), nothrow);
    if (rec) break;
  }
}

asio::awaitable<error_code> downstream_session::wait_readable(asio::ip::tcp::socket& socket,
                                                              std::chrono::milliseconds limit) {
  // A timer that cancels the wait: much cheaper per exchange than racing two awaitables.
  wait_timed_out_ = false;
  const auto generation = ++wait_generation_;
  if (limit.count() > 0) {
    wait_deadline_.expires_after(limit);
    wait_deadline_.async_wait([self = shared_from_this(), generation, &socket](error_code ec) {
      // A stale generation means the wait already ended; `socket` may be gone by then.
      if (ec || generation != self->wait_generation_) return;
      self->wait_timed_out_ = true;
      error_code ignored;
      socket.cancel(ignored);
    });
  }
  auto [ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_read, nothrow);
  ++wait_generation_;
  if (limit.count() > 0) wait_deadline_.cancel();
  co_return wait_timed_out_ ? error_code(beast::error::timeout) : ec;
}

void downstream_session::watch_for_client_close() {
  watching_ = true;
  const auto generation = ++watch_generation_;
  stream_.tcp().socket().async_wait(
      asio::ip::tcp::socket::wait_read, [self = shared_from_this(), generation](error_code ec) {
        if (ec || generation != self->watch_generation_ || !self->watching_) return;
        self->watching_ = false;
        // Readable while the client waits for a response: EOF, a reset, or a close
        // message mean it left; anything else is a pipelined request, kept for later.
        const bool gone = peer_has_left(self->stream_.tcp().socket().native_handle(), self->stream_.kind());
        if (!gone) return;
        self->client_gone_ = true;
        if (self->current_upstream_) {
          error_code ignored;
          self->current_upstream_->stream.tcp().socket().close(ignored);
        }
      });
}

void downstream_session::on_tick(std::chrono::steady_clock::time_point now) {
  if (watch_due_ == clock::time_point{} || now < watch_due_) return;
  watch_due_ = {};
  watch_for_client_close();
}

void downstream_session::stop_watching() {
  watch_due_ = {};
  if (!watching_) return;
  watching_ = false;
  ++watch_generation_;
  error_code ec;
  stream_.tcp().socket().cancel(ec);
}

}  // namespace mcpgate::http
