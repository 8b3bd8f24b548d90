#include "tunnel/edge.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "net/ip_prefix.hpp"
#include "net/listen.hpp"
#include "net/tls_context.hpp"
#include "observability/metrics.hpp"
#include "observability/throttle.hpp"
#include "pki/pem.hpp"
#include "tunnel/client_hello.hpp"
#include "tunnel/h2_link.hpp"
#include "tunnel/handshake.hpp"
#include "tunnel/registry.hpp"
#include "observability/log.hpp"

namespace mcpgate::tunnel {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr auto registry_poll = std::chrono::seconds(1);

int select_tunnel_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                       unsigned int inlen, void*) {
  for (unsigned i = 0; i < inlen;) {
    const unsigned len = in[i];
    if (i + 1 + len > inlen) break;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == connector_alpn) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;  // not a connector: fail the handshake with a clear alert
}

// Why a client was closed without being forwarded. The client port is open to the whole
// internet (scanners, clients of tunnels long gone): one line a second per reason, with a
// count of those held back.
// `counts`: the edge's clients closed by reason (/metrics), counted whether logged or not.
template <class... Args>
void client_closed(std::map<std::string, std::uint64_t>& counts, std::string_view reason,
                   fmt::format_string<Args...> format, Args&&... args) {
  ++counts[std::string(reason)];
  std::string key = "edge-client-";
  key += reason;
  observability::log_throttled(log::edge(), spdlog::level::info, key, format, std::forward<Args>(args)...);
}

asio::awaitable<void> pause(asio::io_context& io, std::chrono::milliseconds how_long) {
  asio::steady_timer timer(io, how_long);
  co_await timer.async_wait(nothrow);
}

}  // namespace

struct edge_server::state : std::enable_shared_from_this<state> {
  state(asio::io_context& io_context, std::shared_ptr<const config::edge_config> config)
      : io(io_context),
        cfg(std::move(config)),
        client_acceptor(io),
        connector_acceptor(io),
        poll_timer(io),
        registry_db(cfg->registry),
        allowed_clients(cfg->allowed_client_ips) {}

  struct tunnel_links {
    std::string name;
    std::vector<std::shared_ptr<h2_link>> links;
  };

  asio::io_context& io;
  std::shared_ptr<const config::edge_config> cfg;
  tcp::acceptor client_acceptor;
  tcp::acceptor connector_acceptor;
  asio::steady_timer poll_timer;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  std::shared_ptr<asio::ssl::context> connector_tls;
  registry registry_db;
  net::ip_prefix_set allowed_clients;
  std::unordered_map<std::string, std::string> tunnel_of_domain;  // live tunnels: domain -> id
  std::unordered_map<std::string, tunnel_links> live;             // id -> its connector connections
  bool stopping = false;
  // For /metrics and /status.json (this thread only, like everything here).
  std::map<std::string, std::uint64_t> closed_clients;      // clients closed without a stream, by reason
  std::map<std::string, std::uint64_t> connector_refusals;  // connector handshakes refused, by verdict
  std::map<std::string, std::uint64_t> connector_connects;  // by tunnel id
  std::map<std::string, std::uint64_t> streams_opened;      // client connections forwarded, by tunnel id
  std::map<const h2_link*, std::pair<std::string, std::chrono::system_clock::time_point>> link_info;  // remote, since

  void refresh_domains() {
    std::unordered_map<std::string, std::string> domains;
    std::set<std::string> archived;
    for (const auto& t : registry_db.list(true)) {
      if (t.archived_at) archived.insert(t.id);
      else domains.emplace(t.domain, t.id);
    }
    tunnel_of_domain = std::move(domains);
    for (const auto& id : archived) {
      auto it = live.find(id);
      if (it == live.end()) continue;
      log::edge().warn("edge: tunnel {} was archived; closing its {} connector connection(s)", id, it->second.links.size());
      for (auto& link : it->second.links) link->close();
    }
  }

  // The tunnel for an SNI name: its own domain or the nearest parent that is one.
  std::optional<std::string> tunnel_for(std::string_view host) const {
    while (!host.empty()) {
      auto it = tunnel_of_domain.find(std::string(host));
      if (it != tunnel_of_domain.end()) return it->second;
      const auto dot = host.find('.');
      if (dot == std::string_view::npos) break;
      host.remove_prefix(dot + 1);
    }
    return std::nullopt;
  }

  std::shared_ptr<h2_link> least_busy(const std::string& tunnel_id, const std::set<const h2_link*>& tried) {
    auto it = live.find(tunnel_id);
    if (it == live.end()) return nullptr;
    std::shared_ptr<h2_link> best;
    for (const auto& link : it->second.links) {
      if (!link->accepting() || tried.contains(link.get())) continue;
      if (!best || link->stream_count() < best->stream_count()) best = link;
    }
    return best;
  }

  static asio::awaitable<void> poll_registry(std::shared_ptr<state> self) {
    while (!self->stopping) {
      self->poll_timer.expires_after(registry_poll);
      co_await self->poll_timer.async_wait(nothrow);
      if (self->stopping) break;
      try {
        if (self->registry_db.changed()) self->refresh_domains();
      } catch (const std::exception& e) {
        log::edge().error("edge: reading the tunnel registry failed: {}", e.what());
      }
    }
  }

  // ---- public clients ---------------------------------------------------------------

  using serve_fn = asio::awaitable<void> (*)(std::shared_ptr<state>, tcp::socket);

  static asio::awaitable<void> accept_loop(std::shared_ptr<state> self, tcp::acceptor& acceptor, serve_fn serve,
                                           const char* which) {
    while (!self->stopping) {
      auto [ec, socket] = co_await acceptor.async_accept(nothrow);
      if (ec) {
        if (ec == asio::error::operation_aborted || self->stopping) break;
        // Out of descriptors or memory: wait a little instead of spinning on the error.
        observability::log_throttled(log::edge(), spdlog::level::warn, "edge accept failed",
                                     "edge: accept on the {} listener failed: {}", which, ec.message());
        co_await pause(self->io, std::chrono::milliseconds(100));
        continue;
      }
      asio::co_spawn(self->io, serve(self, std::move(socket)), asio::detached);
    }
  }

  static asio::awaitable<void> serve_client(std::shared_ptr<state> self, tcp::socket socket) {
    error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    if (ec) co_return;
    const std::string client = net::endpoint_text(peer);
    if (!self->allowed_clients.empty() && !self->allowed_clients.contains(net::unmapped(peer.address()))) {
      client_closed(self->closed_clients, "ip_denied", "edge: client {} refused: ip_denied (not in allowed_client_ips)", client);
      co_return;
    }
    socket.set_option(tcp::no_delay(true), ec);

    // The ClientHello, within the deadline and the size bound; nothing is answered.
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(self->cfg->client_hello_timeout);
    std::string hello;
    client_hello_result parsed;
    const std::size_t max = self->cfg->max_client_hello_bytes;
    for (;;) {
      const std::size_t old = hello.size();
      hello.resize(old + std::min<std::size_t>(4096, max + 1 - old));
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(hello.data() + old, hello.size() - old), nothrow);
      hello.resize(old + n);
      if (rec) {
        if (rec == beast::error::timeout) {
          client_closed(self->closed_clients, "hello_timeout", "edge: client {} closed: no complete TLS ClientHello within {} ms", client,
                       self->cfg->client_hello_timeout.count());
        }
        co_return;
      }
      parsed = parse_client_hello({reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()}, max);
      if (parsed.status != hello_status::need_more) break;
    }
    stream.expires_never();
    if (parsed.status != hello_status::ok) {
      client_closed(self->closed_clients, "bad_hello", "edge: client {} closed: {}", client,
                   parsed.status == hello_status::too_large ? "ClientHello larger than max_client_hello_bytes"
                   : parsed.status == hello_status::not_tls ? "not TLS (the edge only passes TLS through)"
                                                            : "malformed ClientHello: " + parsed.error);
      co_return;
    }
    const std::string& name = parsed.info.server_name;
    if (name.empty()) {
      client_closed(self->closed_clients, "no_sni", "edge: client {} closed: no server name (SNI) in its ClientHello", client);
      co_return;
    }
    const auto tunnel_id = self->tunnel_for(name);
    if (!tunnel_id) {
      client_closed(self->closed_clients, "no_tunnel", "edge: client {} closed: no tunnel for host {}", client, name);
      co_return;
    }
    h2_link::open_request request;
    request.authority = name;
    request.client_address = client;
    request.initial = std::move(hello);
    request.client = make_tcp_channel(stream.release_socket());
    open(self, *tunnel_id, std::move(request), std::make_shared<std::set<const h2_link*>>());
  }

  // Opens the client's stream on the least busy connection of the tunnel; a refusal tries
  // the next one, up to stream_open_attempts.
  static void open(const std::shared_ptr<state>& self, const std::string& tunnel_id, h2_link::open_request request,
                   std::shared_ptr<std::set<const h2_link*>> tried) {
    for (;;) {
      if (tried->size() >= self->cfg->stream_open_attempts) {
        client_closed(self->closed_clients, "refused", "edge: client {} closed: {} connector connection(s) of tunnel {} refused the stream",
                     request.client_address, tried->size(), tunnel_id);
        request.client->close();
        return;
      }
      auto link = self->least_busy(tunnel_id, *tried);
      if (!link) {
        if (tried->empty()) {
          client_closed(self->closed_clients, "no_connector", "edge: client {} closed: tunnel {} ({}) has no connector connected", request.client_address,
                       tunnel_id, request.authority);
        } else {
          client_closed(self->closed_clients, "refused", "edge: client {} closed: every connector connection of tunnel {} ({} tried) refused the "
                       "stream (the connector cannot reach its gateway?)",
                       request.client_address, tunnel_id, tried->size());
        }
        request.client->close();
        return;
      }
      tried->insert(link.get());
      std::weak_ptr<state> weak = self;
      const bool opened = link->open_stream(request, [weak, tunnel_id, tried](h2_link::open_request back) {
        if (auto s = weak.lock()) open(s, tunnel_id, std::move(back), tried);
        else back.client->close();
      });
      if (opened) {
        ++self->streams_opened[tunnel_id];
        return;
      }
    }
  }

  // ---- connectors -------------------------------------------------------------------

  static asio::awaitable<void> serve_connector(std::shared_ptr<state> self, tcp::socket socket) {
    error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    if (ec) co_return;
    const std::string from = net::endpoint_text(peer);
    socket.set_option(tcp::no_delay(true), ec);
    auto tls = std::make_shared<tls_socket>(std::move(socket), *self->connector_tls);
    std::optional<handshake_deadline> deadline(std::in_place, tls, self->cfg->connector_handshake_timeout);

    if (auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::server, nothrow); hec) {
      // The connector port is public: anyone can fail its handshakes, as often as they like.
      observability::log_throttled(log::edge(), spdlog::level::info, "edge connector handshake failed",
                                   "edge: connector TLS handshake from {} failed: {}", from,
                                   deadline->expired() ? "timed out" : hec.message());
      co_return;
    }
    std::string message;
    if (auto rec = co_await read_message(*tls, message); rec) {
      observability::log_throttled(log::edge(), spdlog::level::info, "edge connector handshake failed",
                                   "edge: connector {} sent no handshake: {}", from,
                                   deadline->expired() ? "timed out" : rec.message());
      co_return;
    }
    std::string why;
    const auto hello = decode_hello(message, why);
    const auto exporter = tls_exporter(*tls);
    if (!hello || !exporter) {
      observability::log_throttled(log::edge(), spdlog::level::info, "edge connector handshake failed",
                                   "edge: connector {} sent a bad handshake: {}", from,
                                   hello ? "no TLS 1.3 exporter" : why);
      co_return;
    }
    auth_verdict verdict = auth_verdict::tunnel_unknown;
    std::optional<tunnel_record> record;
    try {
      verdict = self->registry_db.authenticate(hello->tunnel_id, hello->version, *exporter, hello->proof);
      record = self->registry_db.find(hello->tunnel_id);
    } catch (const std::exception& e) {
      log::edge().error("edge: tunnel registry: {}", e.what());
      co_return;
    }
    edge_verdict answer;
    answer.result = std::string(to_string(verdict));
    answer.message = refusal_message(verdict, *hello, record);
    if (verdict == auth_verdict::ok) answer.domain = record ? record->domain : "";
    if (auto wec = co_await write_message(*tls, encode_verdict(answer)); wec) co_return;
    if (verdict != auth_verdict::ok || !record) {
      ++self->connector_refusals[answer.result];
      observability::log_throttled(log::edge(), spdlog::level::warn, "edge connector refused " + answer.result,
                                   "edge: connector {} ({} #{}) refused: {}: {}", from, hello->connector,
                                   hello->connection, answer.result, answer.message);
      co_await tls->async_shutdown(nothrow);
      co_return;
    }
    deadline.reset();
    if (self->stopping) co_return;

    link_settings settings;
    settings.stream_window = static_cast<std::uint32_t>(self->cfg->stream_window);
    settings.connection_window = static_cast<std::uint32_t>(self->cfg->connection_window);
    settings.ping_interval = self->cfg->ping_interval;
    settings.ping_misses = self->cfg->ping_misses;
    const std::string label = record->id + " " + hello->connector + "#" + std::to_string(hello->connection) + " " + from;
    auto link = std::make_shared<h2_link>(std::make_unique<tls_socket>(std::move(*tls)), h2_link::role::edge, settings,
                                          label);
    auto& entry = self->live[record->id];
    entry.name = record->name;
    entry.links.push_back(link);
    ++self->connector_connects[record->id];
    self->link_info[link.get()] = {from, std::chrono::system_clock::now()};
    log::edge().info("edge: connector connected: tunnel {} ({}) {} #{} from {}; {} connection(s) live", record->id,
                     record->name, hello->connector, hello->connection, from, entry.links.size());
    co_await h2_link::run(link);
    self->link_info.erase(link.get());

    auto it = self->live.find(record->id);
    if (it != self->live.end()) {
      std::erase(it->second.links, link);
      log::edge().info("edge: connector disconnected: tunnel {} {} #{} from {}; {} connection(s) live", record->id,
                       hello->connector, hello->connection, from, it->second.links.size());
      if (it->second.links.empty()) self->live.erase(it);
    }
  }

  static std::string refusal_message(auth_verdict verdict, const connector_hello& hello,
                                     const std::optional<tunnel_record>& record) {
    switch (verdict) {
      case auth_verdict::ok: return "connected";
      case auth_verdict::tunnel_unknown: return "no tunnel " + hello.tunnel_id + " on this edge";
      case auth_verdict::token_rotated:
        return "the token of tunnel " + hello.tunnel_id + " was rotated (this is version " +
               std::to_string(hello.version) + ", the current one is " +
               std::to_string(record ? record->token_version : 0) + "); use the new token";
      case auth_verdict::token_unknown:
        return "tunnel " + hello.tunnel_id + " has no token version " + std::to_string(hello.version);
      case auth_verdict::tunnel_archived: return "tunnel " + hello.tunnel_id + " was archived; it cannot be used again";
      case auth_verdict::bad_proof: return "the token does not match tunnel " + hello.tunnel_id;
    }
    return "refused";
  }
};

edge_server::edge_server(asio::io_context& io, std::shared_ptr<const config::edge_config> cfg)
    : state_(std::make_shared<state>(io, std::move(cfg))) {
  auto& s = *state_;
  s.connector_tls = net::make_server_tls_context(s.cfg->tls);
  SSL_CTX* native = s.connector_tls->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);  // the exporter proof needs TLS 1.3
  SSL_CTX_set_alpn_select_cb(native, select_tunnel_alpn, nullptr);
  const auto bind = [](tcp::acceptor& acceptor, const config::listener& l, const std::string& key) {
    const std::string what = key + " " + l.address;
    const auto ep = net::bind_endpoint(l.bind_host, l.port, what);
    auto ec = net::bind_acceptor(acceptor, ep, false);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error(what + ": " + ec.message());
  };
  bind(s.client_acceptor, s.cfg->listen, "listen");
  bind(s.connector_acceptor, s.cfg->connector_listen, "connector_listen");
  s.refresh_domains();
  s.registry_db.changed();  // the baseline for polling
}

edge_server::~edge_server() = default;

void edge_server::start() {
  asio::co_spawn(state_->io, state::accept_loop(state_, state_->client_acceptor, &state::serve_client, "client"),
                 asio::detached);
  asio::co_spawn(state_->io,
                 state::accept_loop(state_, state_->connector_acceptor, &state::serve_connector, "connector"),
                 asio::detached);
  asio::co_spawn(state_->io, state::poll_registry(state_), asio::detached);
}

void edge_server::stop(std::chrono::milliseconds grace) {
  auto s = state_;
  s->stopping = true;
  error_code ignored;
  s->client_acceptor.close(ignored);
  s->connector_acceptor.close(ignored);
  s->poll_timer.cancel();
  for (auto& [id, entry] : s->live) {
    for (auto& link : entry.links) link->go_away();
  }
  auto timer = std::make_shared<asio::steady_timer>(s->io, grace);
  timer->async_wait([s, timer](error_code) {
    for (auto& [id, entry] : s->live) {
      for (auto& link : entry.links) link->close();
    }
  });
}

std::string edge_server::not_ready() const {
  if (state_->stopping) return "not ready: shutting down";
  if (state_->live.empty()) return "not ready: no connector connection registered";
  return "";
}

std::string edge_server::metrics_text() const {
  const auto& s = *state_;
  observability::exposition out;
  out.family("mcpgate_build_info", "gauge", "The running build.");
  out.sample("mcpgate_build_info", {{"version", MCPGATE_VERSION}}, std::uint64_t{1});
  out.family("mcpgate_config_info", "gauge", "The loaded config: its file and the SHA-256 of its text.");
  out.sample("mcpgate_config_info", {{"file", s.cfg->source}, {"sha256", s.cfg->sha256}}, std::uint64_t{1});
  // Every tunnel with a live connection, or one it ever had (counts survive a reconnect).
  std::set<std::string> tunnels;
  for (const auto& [id, entry] : s.live) tunnels.insert(id);
  for (const auto& [id, count] : s.connector_connects) tunnels.insert(id);
  out.family("mcpgate_edge_connector_connections", "gauge", "Connector connections open now, by tunnel.");
  for (const auto& id : tunnels) {
    const auto it = s.live.find(id);
    out.sample("mcpgate_edge_connector_connections", {{"tunnel", id}},
               static_cast<std::uint64_t>(it == s.live.end() ? 0 : it->second.links.size()));
  }
  out.family("mcpgate_edge_connector_connects_total", "counter",
             "Connector connections accepted, by tunnel (above the connector's `connections`: reconnects).");
  for (const auto& [id, count] : s.connector_connects) out.sample("mcpgate_edge_connector_connects_total", {{"tunnel", id}}, count);
  out.family("mcpgate_edge_open_streams", "gauge", "Client connections being carried now, by tunnel.");
  for (const auto& id : tunnels) {
    std::uint64_t streams = 0;
    if (const auto it = s.live.find(id); it != s.live.end()) {
      for (const auto& link : it->second.links) streams += link->stream_count();
    }
    out.sample("mcpgate_edge_open_streams", {{"tunnel", id}}, streams);
  }
  out.family("mcpgate_edge_streams_total", "counter", "Client connections forwarded to a connector, by tunnel.");
  for (const auto& [id, count] : s.streams_opened) out.sample("mcpgate_edge_streams_total", {{"tunnel", id}}, count);
  out.family("mcpgate_edge_connector_refusals_total", "counter",
             "Connector handshakes refused, by verdict (token_rotated, tunnel_archived, tunnel_unknown, bad_proof, ...).");
  for (const auto& [verdict, count] : s.connector_refusals) {
    out.sample("mcpgate_edge_connector_refusals_total", {{"verdict", verdict}}, count);
  }
  out.family("mcpgate_edge_closed_clients_total", "counter",
             "Client connections closed without a stream, by reason (ip_denied, no_tunnel, no_connector, no_sni, ...).");
  for (const auto& [reason, count] : s.closed_clients) out.sample("mcpgate_edge_closed_clients_total", {{"reason", reason}}, count);
  if (X509* cert = SSL_CTX_get0_certificate(s.connector_tls->native_handle())) {
    out.family("mcpgate_certificate_expiry_seconds", "gauge",
               "Seconds until a certificate the edge uses expires (negative: expired), by where it is used.");
    out.sample("mcpgate_certificate_expiry_seconds",
               {{"source", "connector listener"}, {"file", s.cfg->tls.cert_file},
                {"subject", pki::name_of(X509_get_subject_name(cert))}},
               static_cast<double>(pki::seconds_until(X509_get0_notAfter(cert), std::time(nullptr))));
  }
  return out.take();
}

std::string edge_server::status_json() const {
  const auto& s = *state_;
  const auto unix_seconds = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  };
  boost::json::object doc;
  doc["service"] = "mcpgate";
  doc["version"] = MCPGATE_VERSION;
  doc["mode"] = "edge";
  doc["now"] = unix_seconds(std::chrono::system_clock::now());
  doc["started"] = unix_seconds(s.started);
  doc["config"] = {{"path", s.cfg->source}, {"sha256", s.cfg->sha256}, {"loaded", unix_seconds(s.started)},
                   {"reloads", boost::json::array()}};
  doc["listeners"] = {{{"address", net::endpoint_text(s.client_acceptor.local_endpoint())}, {"protocol", "clients"}},
                      {{"address", net::endpoint_text(s.connector_acceptor.local_endpoint())}, {"protocol", "connectors"}}};
  boost::json::array connectors;
  for (const auto& [id, entry] : s.live) {
    for (const auto& link : entry.links) {
      const auto info = s.link_info.find(link.get());
      connectors.push_back({{"tunnel", id + (entry.name.empty() ? "" : " (" + entry.name + ")")},
                            {"remote", info == s.link_info.end() ? "" : info->second.first},
                            {"connected", info == s.link_info.end() ? boost::json::value(nullptr)
                                                                     : boost::json::value(unix_seconds(info->second.second))},
                            {"streams", link->stream_count()}});
    }
  }
  doc["tunnel"] = {{"connectors", std::move(connectors)}};
  doc["routes"] = boost::json::array();
  doc["denials"] = boost::json::array();
  doc["auth"] = boost::json::array();
  boost::json::array certificates;
  if (X509* cert = SSL_CTX_get0_certificate(s.connector_tls->native_handle())) {
    const auto left = pki::seconds_until(X509_get0_notAfter(cert), std::time(nullptr));
    certificates.push_back({{"source", "connector listener"},
                            {"file", s.cfg->tls.cert_file},
                            {"subject", pki::name_of(X509_get_subject_name(cert))},
                            {"not_after", static_cast<double>(std::time(nullptr) + left)},
                            {"seconds_left", left}});
  }
  doc["certificates"] = std::move(certificates);
  return boost::json::serialize(doc);
}

tcp::endpoint edge_server::client_endpoint() const { return state_->client_acceptor.local_endpoint(); }
tcp::endpoint edge_server::connector_endpoint() const { return state_->connector_acceptor.local_endpoint(); }

}  // namespace mcpgate::tunnel
