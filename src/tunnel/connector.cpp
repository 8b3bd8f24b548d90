#include "tunnel/connector.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <unistd.h>

#include <fstream>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include "net/listen.hpp"
#include "observability/throttle.hpp"
#include "tunnel/handshake.hpp"
#include "tunnel/token.hpp"
#include "observability/log.hpp"

namespace mcpgate::tunnel {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using boost::system::error_code;
using clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
// A connection that lived this long was a success: the next failure starts the backoff over.
constexpr auto stable_connection = std::chrono::seconds(60);

struct split_host_port {
  std::string host;
  std::string port;
};

std::optional<split_host_port> split(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return std::nullopt;
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return std::nullopt;
  return split_host_port{host, std::string(text.substr(colon + 1))};
}

struct gateway_target {
  bool websocket = true;
  std::string host;
  std::string port;
  std::string path = "/";
};

std::optional<gateway_target> parse_target(std::string_view to, std::string& why) {
  const auto url = boost::urls::parse_uri(to);
  if (!url) {
    why = "--to must be ws://HOST:PORT or tcp://HOST:PORT, got \"" + std::string(to) + "\"";
    return std::nullopt;
  }
  gateway_target t;
  const auto scheme = url->scheme();
  if (scheme == "ws") t.websocket = true;
  else if (scheme == "tcp") t.websocket = false;
  else {
    why = "--to: scheme must be ws (the gateway's WebSocket listener, listen_addr) or tcp (a tls listener), "
          "got \"" + std::string(scheme) + "\"";
    return std::nullopt;
  }
  t.host = url->host_address();
  t.port = url->port();
  if (t.host.empty() || t.port.empty()) {
    why = "--to: host and port are required, e.g. ws://127.0.0.1:8080";
    return std::nullopt;
  }
  if (!url->path().empty()) {
    if (!t.websocket) {
      why = "--to: a tcp:// target has no path";
      return std::nullopt;
    }
    t.path = url->path();
  }
  return t;
}

std::string this_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "connector";
  return name;
}

// Why a TLS handshake with the edge failed, in words that say what to fix.
std::string handshake_failure(tls_socket& tls, error_code ec, const std::string& server_name) {
  const long verify = SSL_get_verify_result(tls.native_handle());
  if (verify != X509_V_OK) {
    return std::string("the edge's certificate does not verify for ") + server_name + ": " +
           X509_verify_cert_error_string(verify) + " (check --edge-ca and the edge's tls.cert_file)";
  }
  if (ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL) {
    return "the server at this address is not an mcpgate edge's connector listener (no mcpgate-tunnel/1 ALPN)";
  }
  return "TLS handshake failed: " + ec.message();
}

}  // namespace

std::string check_connector_settings(const connector_settings& s) {
  if (!split(s.edge)) return "--edge must be HOST:PORT, got \"" + s.edge + "\"";
  if (s.token_file.empty()) return "--token-file is required";
  if (s.connections < 1 || s.connections > 64) return "--connections must be 1..64";
  std::string why;
  const auto target = parse_target(s.to, why);
  if (!target) return why;
  if (s.proxy_protocol && target->websocket) return "--proxy-protocol applies to tcp:// targets only";
  return "";
}

struct connector::state : std::enable_shared_from_this<state> {
  state(asio::io_context& io_context, connector_settings s)
      : io(io_context), settings(std::move(s)), tls(asio::ssl::context::tls_client) {}

  asio::io_context& io;
  connector_settings settings;
  asio::ssl::context tls;
  std::string server_name;
  split_host_port edge;
  gateway_target target;
  tcp::endpoint target_address;
  std::vector<std::shared_ptr<h2_link>> links;
  std::vector<std::unique_ptr<asio::steady_timer>> sleepers;
  bool stopping = false;
  std::function<void(const std::string&)> on_fatal;
  std::function<void(unsigned, const std::string&)> on_connected;
  std::function<void(const std::string&)> on_refused;

  void fatal(const std::string& why) {
    if (stopping) return;
    log::connector().error("connector: {}; stopping", why);
    stop(std::chrono::milliseconds(0));
    if (on_fatal) on_fatal(why);
  }

  void stop(std::chrono::milliseconds grace) {
    stopping = true;
    for (auto& s : sleepers) s->cancel();
    for (auto& link : links) {
      if (link) link->go_away();
    }
    auto timer = std::make_shared<asio::steady_timer>(io, grace);
    timer->async_wait([self = shared_from_this(), timer](error_code) {
      for (auto& link : self->links) {
        if (link) link->close();
      }
    });
  }

  std::optional<tunnel_token> read_token() {
    std::ifstream in(settings.token_file);
    if (!in) {
      log::connector().error("connector: cannot read token file {}: {}", settings.token_file, std::strerror(errno));
      return std::nullopt;
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string why;
    auto token = parse_token(text, &why);
    if (!token) log::connector().error("connector: token file {}: {}", settings.token_file, why);
    return token;
  }

  std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
    std::uint32_t r = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r);
    // Between half and the whole backoff: replicas that lost the edge together come back spread out.
    return base / 2 + std::chrono::milliseconds(r % static_cast<std::uint32_t>(base.count() / 2 + 1));
  }

  // One connection slot: dial, authenticate, serve, and again, until stopped.
  static asio::awaitable<void> keep_connected(std::shared_ptr<state> self, unsigned index) {
    auto backoff = self->settings.backoff_min;
    while (!self->stopping) {
      const auto started = clock::now();
      const auto outcome = co_await self->connect_once(index);
      if (self->stopping) break;
      if (outcome == attempt::fatal) break;
      if (clock::now() - started > stable_connection) backoff = self->settings.backoff_min;
      if (outcome == attempt::wait_long) backoff = self->settings.backoff_max;
      const auto delay = self->jittered(backoff);
      // Every connection of a connector whose edge is down retries: one line a second for all.
      observability::log_throttled(log::connector(), spdlog::level::info, "connector retrying",
                                   "connector: connection {} to {} retrying in {:.1f} s", index, self->settings.edge,
                                   static_cast<double>(delay.count()) / 1000.0);
      auto& sleeper = *self->sleepers[index];
      sleeper.expires_after(delay);
      co_await sleeper.async_wait(nothrow);
      backoff = std::min(backoff * 2, self->settings.backoff_max);
    }
  }

  enum class attempt { retry, wait_long, fatal };

  asio::awaitable<attempt> connect_once(unsigned index) {
    auto token = read_token();
    if (!token) co_return attempt::wait_long;
    const std::string where = settings.edge;

    tcp::resolver resolver(io);
    auto [rec, results] = co_await resolver.async_resolve(edge.host, edge.port, nothrow);
    if (rec) {
      observability::log_throttled(log::connector(), spdlog::level::warn, "connector edge unreachable",
                                   "connector: edge {} unreachable: cannot resolve {}: {}", where, edge.host,
                                   rec.message());
      co_return attempt::retry;
    }
    beast::tcp_stream tcp_stream(io);
    tcp_stream.expires_after(settings.dial_timeout);
    auto [cec, ep] = co_await tcp_stream.async_connect(results, nothrow);
    if (cec) {
      observability::log_throttled(log::connector(), spdlog::level::warn, "connector edge unreachable",
                                   "connector: edge {} unreachable: {}", where,
                                   cec == beast::error::timeout ? "connect timed out" : cec.message());
      co_return attempt::retry;
    }
    tcp_stream.expires_never();
    error_code ignored;
    tcp_stream.socket().set_option(tcp::no_delay(true), ignored);
    auto socket = std::make_shared<tls_socket>(tcp_stream.release_socket(), tls);
    SSL* ssl = socket->native_handle();
    SSL_set_tlsext_host_name(ssl, server_name.c_str());
    SSL_set1_host(ssl, server_name.c_str());
    std::optional<handshake_deadline> deadline(std::in_place, socket, settings.dial_timeout);
    if (auto [hec] = co_await socket->async_handshake(asio::ssl::stream_base::client, nothrow); hec) {
      log::connector().error("connector: edge {}: {}", where,
                             deadline->expired() ? "TLS handshake timed out" : handshake_failure(*socket, hec, server_name));
      co_return attempt::wait_long;
    }
    const auto exporter = tls_exporter(*socket);
    if (!exporter) {
      log::connector().error("connector: edge {}: the connection is not TLS 1.3", where);
      co_return attempt::wait_long;
    }
    connector_hello hello;
    hello.tunnel_id = token->tunnel_id;
    hello.version = token->version;
    hello.proof = sign_proof(*token, *exporter);
    hello.connector = settings.name;
    hello.connection = index;
    if (auto wec = co_await write_message(*socket, encode_hello(hello)); wec) {
      observability::log_throttled(log::connector(), spdlog::level::warn, "connector handshake lost",
                                   "connector: edge {}: connection lost during the handshake: {}", where, wec.message());
      co_return attempt::retry;
    }
    std::string message;
    if (auto mec = co_await read_message(*socket, message); mec) {
      observability::log_throttled(log::connector(), spdlog::level::warn, "connector handshake lost",
                                   "connector: edge {}: no answer to the handshake: {}", where,
                                   deadline->expired() ? "timed out" : mec.message());
      co_return attempt::retry;
    }
    std::string why;
    const auto verdict = decode_verdict(message, why);
    if (!verdict) {
      log::connector().error("connector: edge {}: bad handshake answer: {}", where, why);
      co_return attempt::wait_long;
    }
    if (verdict->result != "ok") {
      if (on_refused) on_refused(verdict->result);
      if (verdict->result == "tunnel_archived" || verdict->result == "tunnel_unknown") {
        fatal("edge " + where + " refused the connection: " + verdict->result + ": " + verdict->message);
        co_return attempt::fatal;
      }
      if (verdict->result == "token_rotated") {
        log::connector().error("connector: edge {} refused the token in {}: it was rotated ({}); put the new token in that "
                               "file, it is read again on every attempt",
                               where, settings.token_file, verdict->message);
      } else {
        log::connector().error("connector: edge {} refused the connection: {}: {}", where, verdict->result, verdict->message);
      }
      co_return attempt::wait_long;
    }
    deadline.reset();
    if (stopping) co_return attempt::retry;

    const std::string label = "connection " + std::to_string(index) + " to " + where;
    auto link = std::make_shared<h2_link>(std::make_unique<tls_socket>(std::move(*socket)), h2_link::role::connector,
                                          settings.link, label);
    std::weak_ptr<h2_link> weak_link = link;
    // Weak: the link must not keep the connector alive (state -> links -> link -> state).
    link->on_stream_request = [weak_self = weak_from_this(), weak_link](const h2_link::stream_request& request) {
      if (auto self = weak_self.lock()) asio::co_spawn(self->io, open_to_gateway(self, weak_link, request), asio::detached);
    };
    links[index] = link;
    log::connector().info("connector: connection {} to edge {} established (tunnel {}, {})", index, where, token->tunnel_id,
                          verdict->domain);
    if (on_connected) on_connected(index, verdict->domain);
    co_await h2_link::run(link);
    links[index].reset();
    if (!stopping) {
      observability::log_throttled(log::connector(), spdlog::level::warn, "connector connection closed",
                                   "connector: connection {} to edge {} closed", index, where);
    }
    co_return attempt::retry;
  }

  static asio::awaitable<void> open_to_gateway(std::shared_ptr<state> self, std::weak_ptr<h2_link> weak_link,
                                               h2_link::stream_request request) {
    tcp::endpoint client;
    if (const auto hp = split(request.client_address)) {
      error_code ec;
      const auto address = asio::ip::make_address(hp->host, ec);
      if (!ec) client = tcp::endpoint(address, static_cast<unsigned short>(std::atoi(hp->port.c_str())));
    }
    error_code ec;
    std::unique_ptr<byte_channel> channel;
    if (self->target.websocket) {
      websocket_target target{self->target_address, request.authority, self->target.path};
      channel = co_await dial_websocket(target, client.address().to_string(), self->settings.dial_timeout, ec);
    } else {
      channel = co_await dial_tcp(self->target_address, self->settings.proxy_protocol, client,
                                  self->settings.dial_timeout, ec);
    }
    auto link = weak_link.lock();
    if (!link) {
      if (channel) channel->close();
      co_return;
    }
    if (!channel) {
      // A gateway that is down would otherwise write a line per client connection.
      if (auto held = observability::warnings().admit("connector-gateway-down")) {
        log::connector().warn("connector: stream for {} ({}): cannot reach the gateway at {}: {}{}", request.client_address,
                              request.authority, self->settings.to, ec.message(), observability::held_back(*held));
      }
      link->refuse_stream(request.id, 502);
      co_return;
    }
    log::connector().debug("connector: stream for {} ({}) open", request.client_address, request.authority);
    link->accept_stream(request.id, std::move(channel));
  }
};

connector::connector(asio::io_context& io, connector_settings settings)
    : state_(std::make_shared<state>(io, std::move(settings))) {
  auto& s = *state_;
  if (const auto why = check_connector_settings(s.settings); !why.empty()) throw std::runtime_error(why);
  s.edge = *split(s.settings.edge);
  s.server_name = s.settings.server_name.empty() ? s.edge.host : s.settings.server_name;
  if (s.settings.name.empty()) s.settings.name = this_host_name();
  std::string why;
  s.target = *parse_target(s.settings.to, why);
  // The gateway is resolved once: it is local, and a stream must not wait on DNS.
  tcp::resolver resolver(io);
  error_code ec;
  const auto results = resolver.resolve(s.target.host, s.target.port, ec);
  if (ec || results.empty()) {
    throw std::runtime_error("--to " + s.settings.to + ": cannot resolve " + s.target.host + ": " + ec.message());
  }
  s.target_address = results.begin()->endpoint();

  SSL_CTX* native = s.tls.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  s.tls.set_verify_mode(asio::ssl::verify_peer);
  if (!s.settings.ca_file.empty()) {
    s.tls.load_verify_file(s.settings.ca_file, ec);
    if (ec) throw std::runtime_error("--edge-ca " + s.settings.ca_file + ": " + ec.message());
  } else {
    s.tls.set_default_verify_paths();
  }
  std::string alpn;
  alpn += static_cast<char>(connector_alpn.size());
  alpn += connector_alpn;
  SSL_CTX_set_alpn_protos(native, reinterpret_cast<const unsigned char*>(alpn.data()),
                          static_cast<unsigned>(alpn.size()));
  s.links.resize(s.settings.connections);
  for (unsigned i = 0; i < s.settings.connections; ++i) s.sleepers.push_back(std::make_unique<asio::steady_timer>(io));
}

connector::~connector() = default;

void connector::start() {
  state_->on_fatal = on_fatal;
  state_->on_connected = on_connected;
  state_->on_refused = on_refused;
  for (unsigned i = 0; i < state_->settings.connections; ++i) {
    asio::co_spawn(state_->io, state::keep_connected(state_, i), asio::detached);
  }
}

void connector::stop(std::chrono::milliseconds grace) { state_->stop(grace); }

std::size_t connector::live_connections() const {
  std::size_t n = 0;
  for (const auto& link : state_->links) n += link && !link->closed() ? 1 : 0;
  return n;
}

}  // namespace mcpgate::tunnel
