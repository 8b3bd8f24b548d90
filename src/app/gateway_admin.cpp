// The gateway's admin pages: what /readyz, /metrics and /status.json say, gathered on the
// control thread. Workers are never locked: each copies its own counts on its own thread
// when asked (collect()), and the copies are added up here.
#include <algorithm>
#include <cmath>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "app/gateway.hpp"
#include "auth/key_source.hpp"
#include "net/listen.hpp"
#include "observability/admin_server.hpp"
#include "observability/metrics.hpp"
#include "pki/files.hpp"
#include "pki/pem.hpp"
#include "tunnel/connector.hpp"

namespace mcpgate::app {

namespace asio = boost::asio;
namespace json = boost::json;
using observability::exposition;

namespace {

constexpr std::size_t max_reload_history = 20;
constexpr auto traffic_step = std::chrono::seconds(5);
constexpr std::size_t traffic_samples = 120;  // ten minutes
// A worker that does not answer within this is left out of the scrape (it is stuck, or
// the gateway is shutting down) rather than holding the scrape forever.
constexpr auto collect_timeout = std::chrono::seconds(2);
// Certificates read from one configured CA file, at most.
constexpr std::size_t max_certificates_per_file = 16;

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// One certificate the gateway uses, as the status page and the expiry gauge show it.
struct certificate_info {
  std::string source;  // "listener 127.0.0.1:8443", "listener 127.0.0.1:8443 client CA", "upstream CA"
  std::string file;
  std::string subject;
  double not_after = 0;
  long long seconds_left = 0;
};

void add_certificate(std::vector<certificate_info>& out, std::string source, std::string file, X509* cert) {
  const auto now = std::time(nullptr);
  const ASN1_TIME* end = X509_get0_notAfter(cert);
  const auto left = pki::seconds_until(end, now);
  out.push_back({std::move(source), std::move(file), pki::name_of(X509_get_subject_name(cert)),
                 static_cast<double>(now + left), left});
}

// The certificates of a PEM file named by the config (a CA bundle of our own, not the
// system's), read now: what expires is what the file holds.
void add_certificate_file(std::vector<certificate_info>& out, const std::string& source, const std::string& file) {
  try {
    const auto text = pki::read_file(file, pki::max_pem_file_bytes);
    const auto scan = pki::scan_pem(text);
    std::size_t taken = 0;
    for (const auto& block : scan.blocks) {
      if (block.label != "CERTIFICATE" || taken++ == max_certificates_per_file) continue;
      auto cert = pki::parse_certificate(block.text, file);
      add_certificate(out, source, file, cert.get());
    }
  } catch (const std::exception&) {
    // Unreadable now: the status page shows what is loaded; doctor says what is wrong.
  }
}

// Every certificate the config makes the gateway use: each listener's own (as loaded now,
// from its TLS context), its client CA, the upstream CA, the tunnel edge's CA.
std::vector<certificate_info> certificates_in_use(const config::config& cfg,
                                                  const std::vector<std::shared_ptr<asio::ssl::context>>& listener_tls) {
  std::vector<certificate_info> out;
  for (std::size_t i = 0; i < listener_tls.size() && i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    if (const auto& tls = listener_tls[i]) {
      if (X509* cert = SSL_CTX_get0_certificate(tls->native_handle())) {
        add_certificate(out, "listener " + l.address, l.tls.cert_file, cert);
      }
    }
    if (!l.tls.client_ca_file.empty()) add_certificate_file(out, "listener " + l.address + " client CA", l.tls.client_ca_file);
  }
  if (!cfg.upstream.ca_file.empty()) add_certificate_file(out, "upstream CA", cfg.upstream.ca_file);
  if (cfg.tunnel.enabled && !cfg.tunnel.edge_ca.empty()) add_certificate_file(out, "tunnel edge CA", cfg.tunnel.edge_ca);
  return out;
}

std::string route_match(const config::route& r) { return r.host_key + (r.path == "/" ? "" : r.path); }

std::string_view route_kind(const config::route& r) {
  if (r.stdio) return "stdio";
  return r.mcp ? "mcp" : "http";
}

}  // namespace

struct gateway::collected {
  observability::worker_metrics total;
  std::vector<std::deque<observability::denial_record>> denials;
  std::size_t pending = 0;
  std::optional<std::size_t> tunnel_connections;
  asio::steady_timer done;
  explicit collected(asio::io_context& io) : done(io) {}
};

std::optional<asio::ip::tcp::endpoint> gateway::admin_endpoint() const {
  if (!admin_) return std::nullopt;
  return admin_->endpoint();
}

void gateway::start_admin(const config::config& cfg) {
  observability::admin_pages pages;
  pages.not_ready = [this] { return not_ready(); };
  pages.metrics = [this] { return metrics_text(); };
  pages.status_json = [this] { return status_json(); };
  admin_ = std::make_unique<observability::admin_server>(control_, cfg.admin, std::move(pages));
  admin_->start();
  if (cfg.counting()) schedule_traffic_sample();
}

void gateway::schedule_traffic_sample() {
  traffic_timer_.expires_after(traffic_step);
  traffic_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    traffic_sample now;
    now.time = unix_seconds(std::chrono::system_clock::now());
    for (const auto& w : workers_) {
      const auto& totals = w->metrics().running_totals();
      now.requests += totals.requests.load(std::memory_order_relaxed);
      now.errors += totals.errors.load(std::memory_order_relaxed);
      now.denied += totals.denied.load(std::memory_order_relaxed);
    }
    traffic_.push_back({now.time, now.requests - traffic_totals_.requests, now.errors - traffic_totals_.errors,
                        now.denied - traffic_totals_.denied});
    if (traffic_.size() > traffic_samples) traffic_.pop_front();
    traffic_totals_ = now;
    schedule_traffic_sample();
  });
}

void gateway::record_reload(bool ok, std::string error) {
  std::lock_guard lock(admin_mutex_);
  const auto now = std::chrono::system_clock::now();
  reloads_.push_front({now, ok, std::move(error)});
  if (reloads_.size() > max_reload_history) reloads_.pop_back();
  if (ok) {
    ++reloads_ok_;
    config_loaded_at_ = now;
  } else {
    ++reloads_failed_;
  }
}

void gateway::note_failed_reload(const std::string& error) { record_reload(false, error); }

std::string gateway::not_ready() const {
  if (!serving_) return "not ready: starting (listeners not bound yet) or shutting down";
  if (tunnel_ && tunnel_connects_.load() == 0) return "not ready: the tunnel has no connection to the edge yet";
  return "";
}

asio::awaitable<std::shared_ptr<gateway::collected>> gateway::collect() {
  auto gathered = std::make_shared<collected>(control_);
  gathered->pending = workers_.size() + (tunnel_ ? 1 : 0);
  gathered->done.expires_after(collect_timeout);
  const auto arrived = [this, gathered] {
    if (--gathered->pending == 0) gathered->done.cancel();
  };
  for (const auto& w : workers_) {
    auto* worker = w.get();
    asio::post(worker->io(), [this, worker, gathered, arrived] {
      auto copy = std::make_shared<observability::worker_metrics>(worker->metrics());
      copy->open_connections = worker->session_count();
      copy->accepted_connections = worker->stats().connections_accepted;
      asio::post(control_, [gathered, copy, arrived] {
        gathered->total.add(*copy);
        gathered->denials.push_back(std::move(copy->denials));
        arrived();
      });
    });
  }
  if (tunnel_) {
    asio::post(*tunnel_io_, [this, gathered, arrived] {
      const auto live = tunnel_->live_connections();
      asio::post(control_, [gathered, live, arrived] {
        gathered->tunnel_connections = live;
        arrived();
      });
    });
  }
  if (gathered->pending > 0) {
    auto [ec] = co_await gathered->done.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
  }
  co_return gathered;
}

asio::awaitable<std::string> gateway::metrics_text() {
  const auto snap = current_.load();
  const auto& cfg = *snap->cfg;
  const auto gathered = co_await collect();
  const auto& m = gathered->total;
  exposition out;

  out.family("mcpgate_build_info", "gauge", "The running build.");
  out.sample("mcpgate_build_info", {{"version", MCPGATE_VERSION}}, std::uint64_t{1});
  out.family("mcpgate_start_time_seconds", "gauge", "When the process started (Unix time).");
  out.sample("mcpgate_start_time_seconds", {}, unix_seconds(started_at_));
  {
    std::lock_guard lock(admin_mutex_);
    out.family("mcpgate_config_info", "gauge", "The loaded config: its file and the SHA-256 of its text.");
    out.sample("mcpgate_config_info", {{"file", cfg.source}, {"sha256", cfg.sha256}}, std::uint64_t{1});
    out.family("mcpgate_config_loaded_timestamp_seconds", "gauge", "When the running config was loaded (Unix time).");
    out.sample("mcpgate_config_loaded_timestamp_seconds", {}, unix_seconds(config_loaded_at_));
    out.family("mcpgate_config_reloads_total", "counter", "Config reloads (SIGHUP) by result.");
    out.sample("mcpgate_config_reloads_total", {{"result", "ok"}}, reloads_ok_);
    out.sample("mcpgate_config_reloads_total", {{"result", "failed"}}, reloads_failed_);
  }

  if (cfg.counting()) {
    out.family("mcpgate_requests_total", "counter",
               "Exchanges by route, status class and reason (\"\" when proxied normally; the gateway's reason for a "
               "reply it made or an exchange cut short).");
    for (const auto& [route, r] : m.routes) {
      for (const auto& o : r.outcomes) {
        out.sample("mcpgate_requests_total", {{"route", route}, {"code", o.status_class}, {"reason", o.reason}},
                   o.count);
      }
    }
    out.family("mcpgate_denials_total", "counter",
               "Requests and connections the gateway refused by rule (access, limits, authentication, tools), by "
               "route and reason.");
    for (const auto& [route, r] : m.routes) {
      std::map<std::string_view, std::uint64_t> by_reason;
      for (const auto& o : r.outcomes) {
        if (observability::is_denial(o.reason)) by_reason[o.reason] += o.count;
      }
      for (const auto& [reason, count] : by_reason) {
        out.sample("mcpgate_denials_total", {{"route", route}, {"reason", reason}}, count);
      }
    }
    for (const auto& [reason, count] : m.connection_refusals) {
      out.sample("mcpgate_denials_total", {{"route", ""}, {"reason", reason}}, count);
    }
    out.family("mcpgate_upstream_errors_total", "counter",
               "Exchanges whose upstream failed, by route and reason (upstream_connect_failed, upstream_ip_denied: "
               "refused by upstream.allowed_ips, upstream_timeout, upstream_reset, ...).");
    for (const auto& [route, r] : m.routes) {
      for (const auto& o : r.outcomes) {
        if (o.reason.starts_with("upstream_") || o.reason == "stream_idle_timeout") {
          out.sample("mcpgate_upstream_errors_total",
                     {{"route", route}, {"code", o.status_class}, {"reason", o.reason}}, o.count);
        }
      }
    }
    out.family("mcpgate_request_duration_seconds", "histogram",
               "From the request's first byte to the response's last, by route (SSE streams: the whole stream).");
    for (const auto& [route, r] : m.routes) out.histogram("mcpgate_request_duration_seconds", "route", route, r.duration);
    out.family("mcpgate_upstream_response_header_seconds", "histogram",
               "From the request sent upstream to the upstream's response header, by route.");
    for (const auto& [route, r] : m.routes) {
      if (r.upstream_header.count > 0) {
        out.histogram("mcpgate_upstream_response_header_seconds", "route", route, r.upstream_header);
      }
    }
    out.family("mcpgate_received_bytes_total", "counter", "Request body bytes received from clients, by route.");
    for (const auto& [route, r] : m.routes) out.sample("mcpgate_received_bytes_total", {{"route", route}}, r.bytes_in);
    out.family("mcpgate_sent_bytes_total", "counter", "Response body bytes sent to clients, by route.");
    for (const auto& [route, r] : m.routes) out.sample("mcpgate_sent_bytes_total", {{"route", route}}, r.bytes_out);
    out.family("mcpgate_mcp_requests_total", "counter",
               "JSON-RPC requests through MCP routes by route, method (\"other\" outside the specification) and the "
               "tool, prompt or resource named (at most 100 per route, then \"other\").");
    for (const auto& [route, r] : m.routes) {
      for (const auto& [key, count] : r.mcp) {
        const auto newline = key.find('\n');
        out.sample("mcpgate_mcp_requests_total",
                   {{"route", route},
                    {"method", std::string_view(key).substr(0, newline)},
                    {"name", std::string_view(key).substr(newline + 1)}},
                   count);
      }
    }
    out.family("mcpgate_open_connections", "gauge", "Client connections open now.");
    out.sample("mcpgate_open_connections", {}, m.open_connections);
    out.family("mcpgate_accepted_connections_total", "counter", "Client connections accepted.");
    out.sample("mcpgate_accepted_connections_total", {}, m.accepted_connections);
    out.family("mcpgate_open_sse_streams", "gauge", "SSE responses being relayed now.");
    out.sample("mcpgate_open_sse_streams", {}, static_cast<double>(m.sse_streams));
    out.family("mcpgate_tls_handshake_failures_total", "counter", "Client TLS handshakes that failed.");
    out.sample("mcpgate_tls_handshake_failures_total", {}, m.tls_handshake_failures);
  }

  out.family("mcpgate_rule_refusals_total", "counter",
             "What each access rule, rate limit and connection limit refused (mode dry_run: would have refused), by "
             "rule (its place in the config).");
  for (const auto& d : policy_->decision_counts()) {
    out.sample("mcpgate_rule_refusals_total", {{"rule", d.rule}, {"mode", "enforced"}}, d.refused);
    out.sample("mcpgate_rule_refusals_total", {{"rule", d.rule}, {"mode", "dry_run"}}, d.dry_run);
  }

  out.family("mcpgate_upstream_healthy", "gauge",
             "1 when the route's active health checks find the upstream healthy, 0 when not (routes with "
             "health_check only).");
  for (const auto& route : cfg.routes) {
    if (!route.health.enabled || route.stdio) continue;
    const auto it = upstream_health_.find(route.name);
    const auto targets = route.targets();
    for (std::size_t k = 0; k < targets.size(); ++k) {
      if (it == upstream_health_.end() || k >= it->second.size() || !it->second[k]) continue;
      out.sample("mcpgate_upstream_healthy", {{"route", route.name}, {"upstream", targets[k].to_string()}},
                 std::uint64_t{*it->second[k] ? 1u : 0u});
    }
  }

  out.family("mcpgate_certificate_expiry_seconds", "gauge",
             "Seconds until a certificate the gateway uses expires (negative: expired), by where it is used.");
  const auto certificates = certificates_in_use(cfg, listener_tls_contexts());
  for (const auto& c : certificates) {
    out.sample("mcpgate_certificate_expiry_seconds", {{"source", c.source}, {"file", c.file}, {"subject", c.subject}},
               static_cast<double>(c.seconds_left));
  }

  std::vector<std::pair<const config::route*, auth::key_source::status>> issuers;
  for (const auto& route : cfg.routes) {
    if (auto* source = snap->key_source_of(route)) issuers.emplace_back(&route, source->current_status());
  }
  out.family("mcpgate_oauth_keys", "gauge", "Signing keys held for each oauth route's issuer.");
  for (const auto& [route, status] : issuers) {
    out.sample("mcpgate_oauth_keys", {{"route", route->name}, {"issuer", route->auth.oauth->issuer}},
               static_cast<std::uint64_t>(status.key_count));
  }
  out.family("mcpgate_oauth_key_fetch_ok", "gauge", "1 when the latest fetch of an oauth route issuer's keys succeeded.");
  for (const auto& [route, status] : issuers) {
    out.sample("mcpgate_oauth_key_fetch_ok", {{"route", route->name}, {"issuer", route->auth.oauth->issuer}},
               std::uint64_t{status.last_error.empty() && status.last_success ? 1u : 0u});
  }

  if (tunnel_) {
    out.family("mcpgate_tunnel_connections", "gauge", "Connections to the tunnel edge open now.");
    out.sample("mcpgate_tunnel_connections", {}, static_cast<std::uint64_t>(gathered->tunnel_connections.value_or(0)));
    out.family("mcpgate_tunnel_connects_total", "counter",
               "Connections to the tunnel edge established (more than `connections`: reconnects).");
    out.sample("mcpgate_tunnel_connects_total", {}, tunnel_connects_.load());
    out.family("mcpgate_tunnel_refusals_total", "counter",
               "Times the edge refused the tunnel token (rotated, archived, unknown tunnel).");
    out.sample("mcpgate_tunnel_refusals_total", {}, tunnel_refusals_.load());
  }
  co_return out.take();
}

asio::awaitable<std::string> gateway::status_json() {
  const auto snap = current_.load();
  const auto& cfg = *snap->cfg;
  const auto gathered = co_await collect();
  const auto& m = gathered->total;
  json::object doc;
  doc["service"] = "mcpgate";
  doc["version"] = MCPGATE_VERSION;
  doc["mode"] = "gateway";
  doc["now"] = unix_seconds(std::chrono::system_clock::now());
  doc["started"] = unix_seconds(started_at_);
  doc["metrics"] = cfg.counting();
  {
    std::lock_guard lock(admin_mutex_);
    json::object config;
    config["path"] = cfg.source;
    config["sha256"] = cfg.sha256;
    config["loaded"] = unix_seconds(config_loaded_at_);
    json::array reloads;
    for (const auto& r : reloads_) reloads.push_back({{"time", unix_seconds(r.time)}, {"ok", r.ok}, {"error", r.error}});
    config["reloads"] = std::move(reloads);
    doc["config"] = std::move(config);
  }
  json::array listeners;
  for (const auto& b : bound_) {
    listeners.push_back({{"address", net::endpoint_text(b.endpoint)}, {"protocol", config::to_string(b.config.mode)}});
  }
  doc["listeners"] = std::move(listeners);

  json::array routes;
  for (const auto& route : cfg.routes) {
    json::object r;
    r["name"] = route.name;
    r["match"] = route_match(route);
    r["kind"] = route_kind(route);
    json::array upstreams;
    const auto health = upstream_health_.find(route.name);
    const auto targets = route.targets();
    for (std::size_t k = 0; k < targets.size(); ++k) {
      json::value healthy = nullptr;
      if (route.health.enabled && health != upstream_health_.end() && k < health->second.size() && health->second[k]) {
        healthy = *health->second[k];
      }
      upstreams.push_back({{"url", targets[k].to_string()},
                           {"healthy", healthy}});
    }
    r["upstreams"] = std::move(upstreams);
    std::uint64_t requests = 0, errors = 0, denied = 0;
    if (const auto it = m.routes.find(route.name); it != m.routes.end()) {
      for (const auto& o : it->second.outcomes) requests += o.count;
      errors = it->second.errors;
      denied = it->second.denied;
    }
    r["requests"] = requests;
    r["errors"] = errors;
    r["denied"] = denied;
    routes.push_back(std::move(r));
  }
  doc["routes"] = std::move(routes);

  json::array samples;
  for (const auto& t : traffic_) {
    samples.push_back({{"time", t.time}, {"requests", t.requests}, {"errors", t.errors}, {"denied", t.denied}});
  }
  doc["traffic"] = {{"step_seconds", traffic_step.count()}, {"samples", std::move(samples)}};

  std::vector<const std::deque<observability::denial_record>*> lists;
  for (const auto& d : gathered->denials) lists.push_back(&d);
  json::array denials;
  for (const auto& d : observability::merge_denials(lists, observability::worker_metrics::recent_denials)) {
    denials.push_back({{"time", d.time}, {"reason", d.reason}, {"client", d.client}, {"route", d.route}, {"rule", d.rule}});
  }
  doc["denials"] = std::move(denials);

  json::array certificates;
  for (const auto& c : certificates_in_use(cfg, listener_tls_contexts())) {
    certificates.push_back({{"source", c.source},
                            {"file", c.file},
                            {"subject", c.subject},
                            {"not_after", c.not_after},
                            {"seconds_left", c.seconds_left}});
  }
  doc["certificates"] = std::move(certificates);

  if (tunnel_) {
    json::array connectors;
    std::lock_guard lock(admin_mutex_);
    connectors.push_back({{"tunnel", tunnel_domain_},
                          {"remote", cfg.tunnel.edge},
                          {"connected", tunnel_connected_at_ ? json::value(unix_seconds(*tunnel_connected_at_)) : nullptr},
                          {"streams", nullptr},
                          {"connections", gathered->tunnel_connections.value_or(0)}});
    doc["tunnel"] = {{"connectors", std::move(connectors)}};
  } else {
    doc["tunnel"] = nullptr;
  }

  json::array auth;
  for (const auto& route : cfg.routes) {
    auto* source = snap->key_source_of(route);
    if (!source) continue;
    const auto status = source->current_status();
    json::value last_fetch = nullptr;
    if (status.last_success) last_fetch = unix_seconds(*status.last_success);
    auth.push_back({{"route", route.name},
                    {"issuer", route.auth.oauth->issuer},
                    {"keys", status.key_count},
                    {"last_fetch", last_fetch},
                    {"error", status.last_error}});
  }
  doc["auth"] = std::move(auth);
  co_return json::serialize(doc);
}

}  // namespace mcpgate::app
