#include "observability/admin_server.hpp"

#include <set>
#include <stdexcept>

#include <openssl/crypto.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "auth/api_key.hpp"
#include "core/base64.hpp"
#include "net/ip_prefix.hpp"
#include "net/listen.hpp"
#include "observability/log.hpp"
#include "observability/status_page.hpp"
#include "observability/throttle.hpp"

namespace mcpgate::observability {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
// An admin request is a line and a few fields; anything bigger is not one of ours.
constexpr std::uint32_t max_request_header_bytes = 8 * 1024;
constexpr auto request_timeout = std::chrono::seconds(10);
constexpr auto idle_timeout = std::chrono::seconds(60);
// A local script opening connections in a loop must not take the process's descriptors.
constexpr std::size_t max_connections = 64;

// The key as sent: "Bearer <key>", or "Basic base64(anything:<key>)" (a browser's prompt).
std::string presented_key(std::string_view authorization) {
  const auto space = authorization.find(' ');
  if (space == std::string_view::npos) return {};
  const auto scheme = authorization.substr(0, space);
  auto value = authorization.substr(space + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (beast::iequals(scheme, "Bearer")) return std::string(value);
  if (!beast::iequals(scheme, "Basic")) return {};
  const auto decoded = core::base64_decode(value);
  if (!decoded) return {};
  const auto colon = decoded->find(':');
  return colon == std::string::npos ? std::string() : decoded->substr(colon + 1);
}

}  // namespace

struct admin_server::state {
  state(asio::io_context& context, const config::admin_settings& s, admin_pages p)
      : io(context), acceptor(context), settings(s), pages(std::move(p)) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  config::admin_settings settings;
  net::ip_prefix_set allowed;
  admin_pages pages;
  std::set<beast::tcp_stream*> open;
  bool stopped = false;

  void apply(const config::admin_settings& s) {
    settings = s;
    allowed = net::ip_prefix_set(s.allow);
  }

  asio::awaitable<void> accept_loop(std::shared_ptr<state> self) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(nothrow);
      if (stopped || ec == asio::error::operation_aborted) co_return;
      if (ec) {
        if (auto held = warnings().admit("admin accept")) {
          log::admin().warn("admin: accept failed: {}{}", ec.message(), held_back(*held));
        }
        asio::steady_timer pause(io, std::chrono::milliseconds(100));
        co_await pause.async_wait(nothrow);
        continue;
      }
      if (open.size() >= max_connections) {
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
      asio::co_spawn(io, serve(self, std::move(socket)), asio::detached);
    }
  }

  // Whether the peer may ask at all (the allow list; empty = anyone who can connect).
  bool peer_allowed(const tcp::socket& socket) const {
    if (settings.allow.empty()) return true;
    boost::system::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    return !ec && allowed.contains(net::unmapped(peer.address()));
  }

  bool key_ok(std::string_view authorization) const {
    if (!settings.key_sha256) return true;
    const auto digest = auth::sha256_of(presented_key(authorization));
    return CRYPTO_memcmp(digest.data(), settings.key_sha256->data(), digest.size()) == 0;
  }

  // The first parameter keeps this state alive while the connection's coroutine runs.
  asio::awaitable<void> serve(std::shared_ptr<state>, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    open.insert(&stream);
    struct forget {
      state& s;
      beast::tcp_stream* stream;
      ~forget() { s.open.erase(stream); }
    } forget_on_exit{*this, &stream};
    if (!peer_allowed(stream.socket())) {
      // Like a data-path listener's access rule: closed without a byte.
      boost::system::error_code ignored;
      stream.socket().close(ignored);
      co_return;
    }
    beast::flat_buffer buffer(max_request_header_bytes);
    for (bool first = true; !stopped; first = false) {
      bhttp::request_parser<bhttp::empty_body> parser;
      parser.header_limit(max_request_header_bytes);
      stream.expires_after(first ? std::chrono::seconds(request_timeout) : std::chrono::seconds(idle_timeout));
      auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, nothrow);
      if (ec) {
        if (ec != bhttp::error::end_of_stream && ec != asio::error::eof && ec != beast::error::timeout &&
            ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
          co_await reply(stream, 400, "text/plain; charset=utf-8", "Bad request\n", false, false);
        }
        co_return;
      }
      const auto& req = parser.get();
      if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
        // Its body (if any) is never read: the connection ends with the answer.
        co_await reply(stream, 405, "text/plain; charset=utf-8", "Method not allowed: GET or HEAD\n", false, false,
                       "Allow", "GET, HEAD");
        co_return;
      }
      if (!parser.is_done()) {
        co_await reply(stream, 400, "text/plain; charset=utf-8", "Bad request: a GET has no body\n", false, false);
        co_return;
      }
      const bool keep_alive = req.keep_alive();
      if (!co_await answer(stream, req) || !keep_alive) co_return;
    }
  }

  // One request; false: the connection must close.
  asio::awaitable<bool> answer(beast::tcp_stream& stream, const bhttp::request<bhttp::empty_body>& req) {
    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == bhttp::verb::head;
    auto target = std::string_view(req.target());
    if (const auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (target == "/healthz") {
      co_return co_await reply(stream, 200, "text/plain; charset=utf-8", "ok\n", keep_alive, head);
    }
    if (target == "/readyz") {
      const auto why = pages.not_ready();
      const std::string text = why.empty() ? std::string("ready\n") : why + "\n";
      co_return co_await reply(stream, why.empty() ? 200 : 503, "text/plain; charset=utf-8", text, keep_alive, head);
    }
    if (target != "/metrics" && target != "/status.json" && target != "/status" && target != "/") {
      co_return co_await reply(stream, 404, "text/plain; charset=utf-8",
                               "Not found: try /healthz, /readyz, /metrics, /status, /status.json\n", keep_alive, head);
    }
    if (!key_ok(req[bhttp::field::authorization])) {
      if (auto held = warnings().admit("admin key")) {
        boost::system::error_code ignored;
        log::admin().warn("admin: request without the admin key from {} path={}{}",
                          net::endpoint_text(stream.socket().remote_endpoint(ignored)), target, held_back(*held));
      }
      co_return co_await reply(stream, 401, "text/plain; charset=utf-8", "Unauthorized: the admin key is required\n",
                               keep_alive, head, "WWW-Authenticate", "Basic realm=\"mcpgate admin\", charset=\"UTF-8\"");
    }
    if (target == "/metrics") {
      const auto body = co_await pages.metrics();
      co_return co_await reply(stream, 200, "text/plain; version=0.0.4; charset=utf-8", body, keep_alive, head);
    }
    if (target == "/status") {
      // Its own script and style, inline; it may only fetch status.json from here.
      co_return co_await reply(stream, 200, "text/html; charset=utf-8", status_page_html(), keep_alive, head,
                               "Content-Security-Policy",
                               "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'");
    }
    if (target == "/") {
      co_return co_await reply(stream, 302, "text/plain; charset=utf-8", "See /status\n", keep_alive, head, "Location",
                               "/status");
    }
    const auto body = co_await pages.status_json();
    co_return co_await reply(stream, 200, "application/json", body, keep_alive, head);
  }

  // `field` / `value`: one extra header field (Allow, Location, WWW-Authenticate), if any.
  // Arguments are views of what the caller keeps (g++ 12 may destroy a by-value temporary
  // of a co_await expression twice).
  asio::awaitable<bool> reply(beast::tcp_stream& stream, unsigned status, std::string_view content_type,
                              std::string_view body, bool keep_alive, bool head, std::string_view field = {},
                              std::string_view value = {}) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::server, "mcpgate");
    res.set(bhttp::field::content_type, content_type);
    // Live numbers and a page naming upstreams and clients: never cached, never framed,
    // never sniffed into something else.
    res.set(bhttp::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Frame-Options", "DENY");
    if (!field.empty()) res.set(field, value);
    const auto length = body.size();
    if (!head) res.body().assign(body);
    res.keep_alive(keep_alive && !stopped);
    res.content_length(length);
    stream.expires_after(request_timeout);
    bhttp::response_serializer<bhttp::string_body> serializer(res);
    boost::system::error_code ec;
    if (head) {
      serializer.split(true);
      std::tie(ec, std::ignore) = co_await bhttp::async_write_header(stream, serializer, nothrow);
    } else {
      std::tie(ec, std::ignore) = co_await bhttp::async_write(stream, serializer, nothrow);
    }
    co_return !ec && res.keep_alive();
  }
};

admin_server::admin_server(asio::io_context& io, const config::admin_settings& settings, admin_pages pages)
    : state_(std::make_shared<state>(io, settings, std::move(pages))) {
  state_->apply(settings);
  const auto ep = net::bind_endpoint(settings.listen.bind_host, settings.listen.port, "admin.listen");
  auto ec = net::bind_acceptor(state_->acceptor, ep, false);
  if (!ec) state_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("admin.listen: cannot listen on " + settings.listen.address + ": " + ec.message() +
                             (ec == asio::error::address_in_use ? " (is another mcpgate running?)" : ""));
  }
}

admin_server::~admin_server() { stop(); }

void admin_server::start() { asio::co_spawn(state_->io, state_->accept_loop(state_), asio::detached); }

void admin_server::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  for (auto* stream : state_->open) stream->socket().close(ignored);
}

void admin_server::update(const config::admin_settings& settings) { state_->apply(settings); }

tcp::endpoint admin_server::endpoint() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec);
}

}  // namespace mcpgate::observability
