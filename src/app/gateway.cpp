#include "app/gateway.hpp"

#include <algorithm>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http/connection_limits.hpp"
#include "http/proxy_session.hpp"
#include "http/upstream.hpp"
#include "http/upstream_set.hpp"
#include "net/ip_prefix.hpp"
#include "net/listen.hpp"
#include "net/tls_context.hpp"
#include "pki/files.hpp"
#include "pki/pem.hpp"
#include "stdio/bridge.hpp"
#include "tunnel/connector.hpp"
#include "observability/admin_server.hpp"
#include "observability/audit.hpp"
#include "observability/log.hpp"
#include "observability/throttle.hpp"
#include "observability/logging.hpp"

namespace mcpgate::app {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// One configured listener: its acceptors (one per worker) and its TLS context, which a
// reload may replace (certificate rotation) while connections keep the one they began with.
struct gateway::listener_slot {
  config::listener cfg;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::atomic<std::shared_ptr<asio::ssl::context>> tls;
  // Open connections over every worker (max_connections, max_connections_per_client).
  std::shared_ptr<http::listener_connections> connections;
  // Certificate files as last loaded (or last tried); guarded by certificates_mutex_.
  net::file_stamp cert_stamp, key_stamp;
  std::string load_error;  // why the last changed files could not be used, "" if they could

  // Records the current state of `l`'s certificate files; true when it differs from the
  // one recorded before.
  bool note_certificate_files(const config::listener& l) {
    const auto cert = net::stamp_of(l.tls.cert_file);
    const auto key = net::stamp_of(l.tls.key_file);
    const bool changed = cert != cert_stamp || key != key_stamp;
    cert_stamp = cert;
    key_stamp = key;
    return changed;
  }
};

namespace {

unsigned worker_count(const config::config& cfg) {
  if (cfg.workers > 0) return cfg.workers;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

std::unique_ptr<tcp::acceptor> open_acceptor(asio::io_context& io, const tcp::endpoint& ep, const std::string& name) {
  // Every worker has its own acceptor on the same port; the kernel spreads connections.
  auto acceptor = std::make_unique<tcp::acceptor>(io);
  auto ec = net::bind_acceptor(*acceptor, ep, true);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("listener " + name + ": cannot listen on " + ep.address().to_string() + ":" +
                                   std::to_string(ep.port()) + ": " + ec.message());
  return acceptor;
}

// SO_REUSEPORT would let a second gateway (or anything else of the same user) bind the
// same port and silently take a share of the connections. A probe bind without it fails
// with "address in use" if anyone holds the port, so that case is an error, not a split.
void ensure_port_free(const tcp::endpoint& ep, const std::string& name) {
  if (ep.port() == 0) return;
  asio::io_context io;
  tcp::acceptor probe(io);
  if (net::bind_acceptor(probe, ep, false) == asio::error::address_in_use) {
    throw std::runtime_error("listener " + name + ": port " + std::to_string(ep.port()) +
                             " is already in use (is another mcpgate running?)");
  }
}

std::shared_ptr<asio::ssl::context> listener_tls(const config::listener& l) {
  if (l.mode == config::listener_mode::plain) return nullptr;
  return net::make_server_tls_context(l.tls);
}

net::stream_kind stream_kind_of(config::listener_mode mode) {
  switch (mode) {
    case config::listener_mode::tls: return net::stream_kind::tls;
    case config::listener_mode::ws: return net::stream_kind::websocket_tls;
    case config::listener_mode::plain: break;
  }
  return net::stream_kind::plain;
}

asio::awaitable<void> accept_loop(http::worker& w, tcp::acceptor& acceptor, std::size_t listener_index,
                                  net::stream_kind kind, std::atomic<std::shared_ptr<asio::ssl::context>>& tls,
                                  std::shared_ptr<http::listener_connections> connections) {
  constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or memory: back off instead of spinning; existing sessions go on.
      observability::log_throttled(log::gateway(), spdlog::level::warn, "accept failed", "accept failed on {}: {}",
                                   acceptor.local_endpoint().port(), ec.message());
      asio::steady_timer pause(w.io(), std::chrono::milliseconds(100));
      co_await pause.async_wait(nothrow);
      continue;
    }
    ++w.stats().connections_accepted;
    if (!connections->try_open(w.snapshot()->cfg->listeners[listener_index].max_connections)) {
      // Full: close at once (RST, no TIME_WAIT here); the open connections keep working.
      error_code ignored;
      observability::access_record log;
      const auto peer = socket.remote_endpoint(ignored);
      log.client = log.peer = ignored ? std::string("unknown") : net::unmapped(peer.address()).to_string();
      log.reason = "listener_full";
      log.rule = connections->where() + ".max_connections";
      socket.set_option(asio::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      observability::write_access_log(log);
      if (w.snapshot()->cfg->counting()) w.metrics().record_connection_refusal(log);
      continue;
    }
    auto session =
        std::make_shared<http::downstream_session>(w, std::move(socket), listener_index, kind, tls.load(), connections);
    http::downstream_session::start(std::move(session));
  }
}

void log_routes(const config::config& cfg) {
  for (const auto& r : cfg.routes) {
    log::gateway().info("route configured route={} host={} path={} upstream={}", r.name, r.host_key, r.path,
                        r.upstream.to_string());
  }
}

// Days the (first) certificate of `cert_file` has left, for the reload log line.
std::string days_left(const std::string& cert_file) {
  try {
    const auto seconds = pki::seconds_left(pki::read_file(cert_file, pki::max_pem_file_bytes));
    return fmt::format("{:.1f}", static_cast<double>(seconds) / 86400.0);
  } catch (const std::exception&) {
    return "unknown";
  }
}

}  // namespace

gateway::gateway(std::shared_ptr<const config::config> cfg) {
  // Issuer keys are fetched off the data path; workers only read them.
  policy_->set_control_executor(control_.get_executor());
  ensure_stdio_bridges(*cfg);
  current_.store(std::make_shared<const http::runtime_snapshot>(cfg, ++generation_, std::chrono::system_clock::now(),
                                                                policy_, stdio_));
  const unsigned n = worker_count(*cfg);
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<http::worker>(i, current_));
  for (const auto& l : cfg->listeners) {
    auto slot = std::make_shared<listener_slot>();
    slot->cfg = l;
    slot->connections =
        std::make_shared<http::listener_connections>(*policy_, l.from_listen_addr ? "listen_addr" : l.access.where);
    slot->tls.store(listener_tls(l));
    if (l.mode != config::listener_mode::plain) slot->note_certificate_files(l);
    slots_.push_back(std::move(slot));
  }
}

gateway::~gateway() { shutdown(std::chrono::milliseconds(0)); }

void gateway::start() {
  const auto snap = current_.load();
  observability::configure_logging(snap->cfg->logs);
  observability::configure_audit(snap->cfg->audit);
  log_routes(*snap->cfg);
  for (auto& slot : slots_) {
    auto ep = net::bind_endpoint(slot->cfg.bind_host, slot->cfg.port, "listener " + slot->cfg.address);
    ensure_port_free(ep, slot->cfg.address);
    for (auto& w : workers_) {
      slot->acceptors.push_back(open_acceptor(w->io(), ep, slot->cfg.address));
      // Port 0: the first bind picks the port, the other workers join it.
      ep.port(slot->acceptors.back()->local_endpoint().port());
    }
    bound_.push_back({slot->cfg, slot->acceptors.front()->local_endpoint()});
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto& w = *workers_[i];
    for (std::size_t l = 0; l < slots_.size(); ++l) {
      auto& slot = *slots_[l];
      asio::co_spawn(w.io(), accept_loop(w, *slot.acceptors[i], l, stream_kind_of(slot.cfg.mode), slot.tls, slot.connections),
                     asio::detached);
    }
    w.start_tick();
    threads_.emplace_back([&w] {
      for (;;) {
        try {
          w.io().run();
          return;
        } catch (const std::exception& e) {
          // A handler that throws is a bug; keep serving the other connections.
          log::gateway().error("worker {}: {}", w.index(), e.what());
        }
      }
    });
  }
  if (snap->cfg->tunnel.enabled) start_tunnel(snap->cfg->tunnel);
  if (snap->cfg->admin.enabled) start_admin(*snap->cfg);
  serving_ = true;
  schedule_certificate_poll();
  schedule_access_rebuild();
  start_health_checks();
  control_thread_ = std::thread([this] {
    try {
      control_.run();
    } catch (const std::exception& e) {
      log::gateway().error("gateway control thread: {}", e.what());
    }
  });
}

void gateway::start_tunnel(const config::tunnel_connector& t) {
  // The listener named, else the first ws one, else the first tls one (the loader made
  // sure there is one that is not plain).
  const auto first = [&](auto matches) -> const bound_listener* {
    const auto it = std::find_if(bound_.begin(), bound_.end(), matches);
    return it == bound_.end() ? nullptr : &*it;
  };
  const auto mode_is = [](config::listener_mode m) { return [m](const bound_listener& b) { return b.config.mode == m; }; };
  const bound_listener* target =
      !t.listener.empty() ? first([&](const bound_listener& b) { return b.config.address == t.listener; })
                          : first(mode_is(config::listener_mode::ws));
  if (!target && t.listener.empty()) target = first(mode_is(config::listener_mode::tls));
  if (!target) throw std::runtime_error("tunnel: no tls or ws listener to send the streams to");
  auto address = target->endpoint.address();
  if (address.is_unspecified()) {
    address = address.is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                              : asio::ip::address(asio::ip::address_v4::loopback());
  }
  const std::string where = net::endpoint_text(tcp::endpoint(address, target->endpoint.port()));
  tunnel::connector_settings settings;
  settings.edge = t.edge;
  settings.token_file = t.token_file;
  settings.ca_file = t.edge_ca;
  settings.server_name = t.server_name;
  settings.connections = t.connections;
  if (target->config.mode == config::listener_mode::ws) {
    settings.to = "ws://" + where;
  } else {
    settings.to = "tcp://" + where;
    settings.proxy_protocol = target->config.proxy_protocol;
    if (!settings.proxy_protocol) {
      log::gateway().warn("tunnel: streams go to listener {} without the client address (it has no proxy_protocol: true); "
                          "logs and access rules there see the gateway itself",
                          target->config.address);
    }
  }
  tunnel_io_ = std::make_unique<asio::io_context>(1);
  tunnel_ = std::make_unique<tunnel::connector>(*tunnel_io_, settings);
  tunnel_->on_connected = [this](unsigned, const std::string& domain) {
    ++tunnel_connects_;
    std::lock_guard lock(admin_mutex_);
    tunnel_domain_ = domain;
    tunnel_connected_at_ = std::chrono::system_clock::now();
  };
  tunnel_->on_refused = [this](const std::string&) { ++tunnel_refusals_; };
  tunnel_->on_fatal = [](const std::string& why) {
    log::gateway().error("tunnel: the connector stopped for good ({}); the gateway keeps serving its listeners", why);
  };
  tunnel_->start();
  log::gateway().info("tunnel: connector to edge {} ({} connection(s)), streams to {}", t.edge, t.connections, settings.to);
  tunnel_thread_ = std::thread([this] {
    try {
      tunnel_io_->run();
    } catch (const std::exception& e) {
      log::gateway().error("tunnel connector thread: {}", e.what());
    }
  });
}

void gateway::schedule_certificate_poll() {
  // One timer for every listener, at the shortest interval any of them asks for.
  config::duration interval{0};
  for (const auto& l : current_.load()->cfg->listeners) {
    if (l.mode == config::listener_mode::plain || l.tls.poll_interval.count() == 0) continue;
    if (interval.count() == 0 || l.tls.poll_interval < interval) interval = l.tls.poll_interval;
  }
  if (interval.count() == 0) return;
  certificate_timer_.expires_after(interval);
  certificate_timer_.async_wait([this](error_code ec) {
    if (ec) return;
    poll_certificates();
    schedule_certificate_poll();
  });
}

void gateway::schedule_access_rebuild() {
  const auto next = current_.load()->next_access_change;
  access_timer_.cancel();
  if (!next) return;
  // Wall-clock instant, steady timer: wake at most hourly so a clock change is noticed.
  const auto wait = std::clamp<std::chrono::system_clock::duration>(*next - std::chrono::system_clock::now(),
                                                                      std::chrono::seconds(0), std::chrono::hours(1));
  access_timer_.expires_after(wait);
  access_timer_.async_wait([this, next](error_code ec) {
    if (ec) return;
    if (std::chrono::system_clock::now() >= *next) rebuild_for_time();
    schedule_access_rebuild();
  });
}

void gateway::rebuild_for_time() {
  std::lock_guard lock(snapshot_mutex_);
  const auto old = current_.load();
  const auto now = std::chrono::system_clock::now();
  try {
    current_.store(std::make_shared<const http::runtime_snapshot>(old->cfg, ++generation_, now, policy_, stdio_));
  } catch (const std::exception& e) {
    log::gateway().error("access rules not updated for the time of day: {}", e.what());
    return;
  }
  for (const auto& set : old->cfg->ip_sets) {
    for (const auto& e : set.entries) {
      const bool was = e.window.contains(old->compiled_at);
      const bool is = e.window.contains(now);
      if (was && !is) log::gateway().info("ip_sets entry expired: {} {}", e.origin, e.prefix.to_string());
      if (!was && is) log::gateway().info("ip_sets entry now active: {} {}", e.origin, e.prefix.to_string());
    }
  }
}

std::size_t gateway::poll_certificates() {
  std::lock_guard lock(certificates_mutex_);
  const auto snap = current_.load();
  std::size_t reloaded = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    auto& slot = *slots_[i];
    const auto& l = snap->cfg->listeners[i];
    if (l.mode == config::listener_mode::plain) continue;
    if (!slot.note_certificate_files(l) && slot.load_error.empty()) continue;
    try {
      slot.tls.store(listener_tls(l));
    } catch (const std::exception& e) {
      // Often a renewal caught half-way (new certificate, old key): keep serving with the
      // certificate we have and try again on the next poll; say so once per new error.
      if (slot.load_error != e.what()) {
        log::gateway().warn("tls certificate reload failed listener={}: {}; keeping the current certificate", l.address,
                            e.what());
      }
      slot.load_error = e.what();
      continue;
    }
    slot.load_error.clear();
    ++reloaded;
    ++certificate_reloads_;
    log::gateway().info("tls certificate reloaded listener={} cert={} days_left={}", l.address, l.tls.cert_file,
                        days_left(l.tls.cert_file));
  }
  return reloaded;
}

bool gateway::reload(std::shared_ptr<const config::config> cfg, std::string& error) {
  const auto old = current_.load();
  std::vector<std::shared_ptr<asio::ssl::context>> new_tls;
  try {
    const auto& admin = cfg->admin;
    const auto& old_admin = old->cfg->admin;
    if (admin.enabled != old_admin.enabled || (admin.enabled && admin.listen.address != old_admin.listen.address)) {
      throw std::runtime_error("admin.listen changed: restart the gateway to apply that");
    }
    if (cfg->tunnel != old->cfg->tunnel) {
      throw std::runtime_error("the tunnel section changed: restart the gateway to apply that (a new token needs no "
                               "restart: the connector reads tunnel.token_file on every dial)");
    }
    if (cfg->listeners.size() != old->cfg->listeners.size()) {
      throw std::runtime_error("listeners were added or removed: restart the gateway to apply that");
    }
    for (std::size_t i = 0; i < cfg->listeners.size(); ++i) {
      const auto& a = cfg->listeners[i];
      const auto& b = old->cfg->listeners[i];
      if (a.address != b.address || a.mode != b.mode) {
        throw std::runtime_error("listener " + b.address + " changed address or mode: restart the gateway to apply that");
      }
      new_tls.push_back(listener_tls(a));  // re-reads certificate files: rotation by SIGHUP
    }
    // Reopens the log and audit files: after logrotate moved them, SIGHUP starts new ones.
    observability::configure_logging(cfg->logs);
    observability::configure_audit(cfg->audit);
    std::lock_guard lock(snapshot_mutex_);
    ensure_stdio_bridges(*cfg);
    auto snap = std::make_shared<const http::runtime_snapshot>(cfg, ++generation_, std::chrono::system_clock::now(),
                                                               policy_, stdio_);
    current_.store(std::move(snap));
    // Routes gone or changed stop their stdio servers; the others keep their sessions.
    if (stdio_) stdio_->retain_only(*cfg);
    asio::post(control_, [this] { start_health_checks(); });
  } catch (const std::exception& e) {
    error = e.what();
    record_reload(false, error);
    return false;
  }
  record_reload(true, "");
  if (admin_) asio::post(control_, [this, cfg] { admin_->update(cfg->admin); });
  {
    std::lock_guard lock(certificates_mutex_);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      auto& slot = *slots_[i];
      const auto& l = cfg->listeners[i];
      slot.tls.store(new_tls[i]);
      if (l.mode == config::listener_mode::plain) continue;
      slot.note_certificate_files(l);
      slot.load_error.clear();
    }
  }
  observability::set_log_level(cfg->level);
  log_routes(*cfg);
  asio::post(control_, [this] { schedule_access_rebuild(); });
  return true;
}

void gateway::shutdown(std::chrono::milliseconds timeout) {
  if (stopped_) return;
  stopped_ = true;
  serving_ = false;  // /readyz says so while the exchanges drain
  // GOAWAY first: the edge sends new clients to other connectors while ours finish.
  if (tunnel_) asio::post(*tunnel_io_, [this, timeout] { tunnel_->stop(timeout); });
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto& w = *workers_[i];
    std::vector<tcp::acceptor*> acceptors;
    for (auto& slot : slots_) {
      if (i < slot->acceptors.size()) acceptors.push_back(slot->acceptors[i].get());
    }
    asio::post(w.io(), [&w, acceptors, timeout] {
      for (auto* a : acceptors) {
        error_code ec;
        a->close(ec);
      }
      w.start_draining(timeout);
    });
  }
  // Exchanges waiting for an issuer's keys are answered now (503), not when the fetch
  // ends; each holds its worker's run() open until then.
  policy_->stop_key_sources();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // The control thread stops only now: stop_key_sources() resumes the waiting exchanges
  // from there.
  control_.stop();
  if (control_thread_.joinable()) control_thread_.join();
  if (admin_) admin_->stop();  // the control thread is gone: nothing else touches it
  if (tunnel_) {
    tunnel_io_->stop();  // the exchanges are over; what the tunnel still carries goes too
    if (tunnel_thread_.joinable()) tunnel_thread_.join();
    tunnel_.reset();
  }
  // After the exchanges: no client is left waiting on a stdio server.
  if (stdio_) stdio_->stop();
}

void gateway::start_health_checks() {
  const auto epoch = ++health_epoch_;
  const auto snap = current_.load();
  for (std::size_t i = 0; i < snap->cfg->routes.size(); ++i) {
    const auto& r = snap->cfg->routes[i];
    if (r.health.enabled && !r.stdio) asio::co_spawn(control_, check_route_health(snap, i, epoch), asio::detached);
  }
}

asio::awaitable<void> gateway::check_route_health(http::snapshot_ptr snap, std::size_t route_index, std::uint64_t epoch) {
  const auto& route = snap->cfg->routes[route_index];
  // A route with one upstream has no set to steer; its checks still say when it goes down.
  auto set = snap->route_upstreams[route_index];
  if (!set) set = std::make_shared<http::upstream_set>(1);
  asio::steady_timer timer(control_);
  while (epoch == health_epoch_.load()) {
    const auto targets = route.targets();
    for (std::size_t k = 0; k < targets.size(); ++k) {
      const auto& target = targets[k];
      std::string why;
      const bool ok = co_await http::check_upstream(route, target, *snap, why);
      if (epoch != health_epoch_.load()) co_return;
      const auto changed = set->record_check(k, ok, route.health);
      auto& seen = upstream_health_[route.name];
      seen.resize(targets.size());
      seen[k] = set->healthy(k);
      if (changed && !*changed) {
        log::gateway().warn("upstream unhealthy route={} upstream={} after {} failed check(s): {}", route.name,
                            target.to_string(), route.health.unhealthy_after, why);
      } else if (changed) {
        log::gateway().info("upstream healthy again route={} upstream={}", route.name, target.to_string());
      }
    }
    timer.expires_after(route.health.interval);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

std::vector<std::shared_ptr<asio::ssl::context>> gateway::listener_tls_contexts() const {
  std::vector<std::shared_ptr<asio::ssl::context>> out;
  for (const auto& slot : slots_) out.push_back(slot->tls.load());
  return out;
}

std::size_t gateway::stdio_process_count() const { return stdio_ ? stdio_->process_count() : 0; }

void gateway::ensure_stdio_bridges(const config::config& cfg) {
  if (stdio_) return;
  if (std::any_of(cfg.routes.begin(), cfg.routes.end(), [](const config::route& r) { return r.stdio.has_value(); })) {
    stdio_ = std::make_shared<stdio::bridge_registry>();
  }
}

}  // namespace mcpgate::app
