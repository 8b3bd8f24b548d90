#include "http/upstream.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "http/snapshot.hpp"
#include "net/resolve.hpp"
#include "stdio/bridge.hpp"
#include "observability/log.hpp"
#include "observability/throttle.hpp"

namespace mcpgate::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Non-blocking look at an idle socket. A clean idle keep-alive connection has nothing
// to read; EOF, an error or unexpected bytes mean it must not carry another request.
// Over TLS, pending bytes may be a session ticket, so only EOF / errors count there.
bool looks_alive(upstream_connection& c) {
  auto& sock = c.stream.tcp().socket();
  if (!sock.is_open()) return false;
  char byte;
  const auto n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  return c.stream.is_tls();
}

}  // namespace

std::string pool_key_of(const config::route& route, const config::upstream_target& target) {
  return route.stdio ? stdio::bridge_registry::key_of(route) : target.to_string();
}

asio::awaitable<dial_outcome> dial_upstream(const config::route& route, const config::upstream_target& target,
                                            const runtime_snapshot& snap,
                                            std::optional<std::chrono::milliseconds> connect_timeout) {
  auto ex = co_await asio::this_coro::executor;
  if (route.stdio) {
    // A local process behind the bridge: no address to resolve or check, a socketpair to it.
    dial_outcome out;
    error_code ec;
    asio::ip::tcp::socket socket =
        snap.stdio ? snap.stdio->open_channel(route, ex, ec) : asio::ip::tcp::socket(ex);
    if (!snap.stdio || ec) {
      out.status = 502;
      out.reason = "upstream_connect_failed";
      out.detail = "stdio bridge for " + route.upstream.to_string() + ": " + (ec ? ec.message() : "not running");
      co_return out;
    }
    out.connection = std::make_unique<upstream_connection>(
        net::maybe_tls_stream(boost::beast::tcp_stream(std::move(socket))), pool_key_of(route, target));
    co_return out;
  }
  const auto deadline = std::chrono::steady_clock::now() + connect_timeout.value_or(route.timeouts.connect);
  dial_outcome out;

  auto [endpoints, rec, timed_out] = co_await net::resolve(target.host, target.port, deadline);
  if (rec) {
    out.status = timed_out ? 504 : 502;
    out.reason = timed_out ? "upstream_connect_timeout" : "upstream_dns_failed";
    out.detail = "resolving " + target.host + ": " + rec.message();
    co_return out;
  }

  if (snap.allowed_upstreams) {
    for (const auto& ep : endpoints) {
      if (!snap.allowed_upstreams->contains(ep.address())) {
        // Exact wording of Anthropic's mcp-proxy: users' runbooks grep for it.
        // Once a second per route: every request to the route fails the same way.
        observability::log_throttled(log::http(), spdlog::level::warn, "IP validation failed " + route.name,
                                     "IP validation failed: {} is not a private address (route={} upstream={})",
                                     ep.address().to_string(), route.name, target.to_string());
        out.status = 502;
        out.reason = "upstream_ip_denied";
        out.detail = ep.address().to_string() + " is not in upstream.allowed_ips";
        co_return out;
      }
    }
  }

  boost::beast::tcp_stream tcp_stream(ex);
  tcp_stream.expires_at(deadline);
  auto [cec, connected] = co_await tcp_stream.async_connect(endpoints, nothrow);
  if (cec) {
    out.status = cec == boost::beast::error::timeout ? 504 : 502;
    out.reason = cec == boost::beast::error::timeout ? "upstream_connect_timeout" : "upstream_connect_failed";
    out.detail = "connecting to " + target.to_string() + ": " + cec.message();
    co_return out;
  }
  error_code ec;
  tcp_stream.socket().set_option(tcp::no_delay(true), ec);

  if (!target.tls()) {
    out.connection = std::make_unique<upstream_connection>(net::maybe_tls_stream(std::move(tcp_stream)),
                                                           pool_key_of(route, target));
    co_return out;
  }

  net::maybe_tls_stream stream(std::move(tcp_stream), *snap.upstream_tls);
  stream.set_client_identity(target.host);
  stream.tcp().expires_at(deadline);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, nothrow);
  if (hec) {
    out.status = hec == boost::beast::error::timeout ? 504 : 502;
    out.reason = hec == boost::beast::error::timeout ? "upstream_connect_timeout" : "upstream_tls_failed";
    out.detail = "TLS to " + target.to_string() + ": " + hec.message();
    co_return out;
  }
  out.connection = std::make_unique<upstream_connection>(std::move(stream), pool_key_of(route, target));
  co_return out;
}

asio::awaitable<bool> check_upstream(const config::route& route, const config::upstream_target& target,
                                     const runtime_snapshot& snap, std::string& why) {
  namespace bhttp = boost::beast::http;
  auto dialed = co_await dial_upstream(route, target, snap, route.health.timeout);
  if (!dialed.connection) {
    why = dialed.reason + ": " + dialed.detail;
    co_return false;
  }
  if (route.health.path.empty()) co_return true;
  auto& c = *dialed.connection;
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, route.health.path, 11};
  req.set(bhttp::field::host, target.authority());
  req.set(bhttp::field::user_agent, "mcpgate-health-check");
  req.keep_alive(false);
  c.stream.tcp().expires_after(route.health.timeout);
  auto [wec, wn] = co_await bhttp::async_write(c.stream, req, nothrow);
  if (wec) {
    why = "GET " + route.health.path + ": " + wec.message();
    co_return false;
  }
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(16 * 1024);
  auto [rec, rn] = co_await bhttp::async_read_header(c.stream, c.buffer, parser, nothrow);
  if (rec) {
    why = "GET " + route.health.path + ": " + rec.message();
    co_return false;
  }
  const unsigned status = parser.get().result_int();
  if (status >= 500) {
    why = "GET " + route.health.path + ": status " + std::to_string(status);
    co_return false;
  }
  co_return true;
}

upstream_connection_ptr upstream_pool::take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  const auto now = std::chrono::steady_clock::now();
  while (!list.empty()) {
    auto c = std::move(list.back());  // most recently used first: warm, least likely closed
    list.pop_back();
    if (now - c->idle_since < max_idle_time_ && looks_alive(*c)) {
      c->reused = true;
      return c;
    }
  }
  return nullptr;
}

void upstream_pool::give_back(upstream_connection_ptr c) {
  if (c->buffer.size() != 0) return;  // bytes after the response: the upstream is confused, do not reuse
  auto& list = idle_[c->pool_key];
  const auto now = std::chrono::steady_clock::now();
  // Drop the stale ones at the cold end first, then make room if still full.
  std::erase_if(list, [&](const upstream_connection_ptr& p) { return now - p->idle_since >= max_idle_time_; });
  if (list.size() >= max_idle_per_upstream_) list.erase(list.begin());
  c->idle_since = now;
  c->buffer.clear();
  c->buffer.shrink_to_fit();
  list.push_back(std::move(c));
}

void upstream_pool::close_all() { idle_.clear(); }

std::size_t upstream_pool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace mcpgate::http
