// `mcpgate edge` and `mcpgate connect`: the two processes of a self-hosted tunnel. Both
// run on one thread (an io_context) until SIGTERM/SIGINT, then drain.
#include <csignal>
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "app/commands.hpp"
#include "config/loader.hpp"
#include "net/listen.hpp"
#include "observability/log.hpp"
#include "observability/admin_server.hpp"
#include "observability/logging.hpp"
#include "tunnel/connector.hpp"
#include "tunnel/edge.hpp"

namespace mcpgate::app {

namespace asio = boost::asio;

CLI::App* add_edge_command(CLI::App& app, edge_options& options) {
  auto* cmd = app.add_subcommand("edge", "Run the public side of a self-hosted tunnel (passes client TLS through)");
  cmd->add_option("-c,--config", options.config_path, "Edge config file")->capture_default_str();
  return cmd;
}

CLI::App* add_connect_command(CLI::App& app, connect_options& options) {
  auto* cmd = app.add_subcommand("connect", "Run a tunnel connector: dial out to an edge, carry its streams to a gateway");
  cmd->add_option("--edge", options.settings.edge, "HOST:PORT of the edge's connector listener")->required();
  cmd->add_option("--token-file", options.settings.token_file, "File holding the tunnel token (read on every dial)")
      ->required();
  cmd->add_option("--to", options.settings.to,
                  "Where streams go: ws://HOST:PORT (the gateway's listen_addr) or tcp://HOST:PORT")
      ->capture_default_str();
  cmd->add_option("--edge-ca", options.settings.ca_file, "CA bundle for the edge's certificate (default: system CAs)");
  cmd->add_option("--server-name", options.settings.server_name,
                  "Name the edge's certificate must carry (default: the host of --edge)");
  cmd->add_option("--connections", options.settings.connections, "Connections kept to the edge")->capture_default_str();
  cmd->add_flag("--proxy-protocol", options.settings.proxy_protocol,
                "tcp:// only: start each connection with a PROXY v2 header naming the client");
  cmd->add_option("--name", options.settings.name, "This connector's name in the edge's logs (default: host name)");
  cmd->add_option("--log-level", options.log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  cmd->add_option("--log-format", options.log_format, "text or json (the log goes to stderr)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", options.shutdown_seconds, "Seconds open streams may take to finish on SIGTERM")
      ->capture_default_str();
  return cmd;
}

namespace {

// Runs `io` until SIGINT/SIGTERM, then calls `drain` and runs until the work is done.
void run_until_signal(asio::io_context& io, spdlog::logger& log, const std::function<void()>& drain) {
  std::signal(SIGPIPE, SIG_IGN);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log.info("signal {}: draining", sig);
    drain();
  });
  io.run();
}

}  // namespace

namespace {
// An admin page the edge makes at once (its state is on this thread).
asio::awaitable<std::string> page(std::string text) { co_return text; }
}  // namespace

int run_edge(const edge_options& options) {
  observability::init_logging(config::log_level::info);
  auto loaded = config::load_edge_file(options.config_path);
  for (const auto& d : loaded.diagnostics) {
    if (d.level == config::diagnostic::severity::error) log::config().error("{}", d.to_string());
    else log::config().warn("{}", d.to_string());
  }
  if (!loaded.ok()) {
    log::config().error("edge config {} has errors; not starting", options.config_path);
    return 1;
  }
  const auto cfg = loaded.snapshot;
  observability::set_log_level(cfg->level);
  asio::io_context io(1);
  std::unique_ptr<tunnel::edge_server> edge;
  try {
    edge = std::make_unique<tunnel::edge_server>(io, cfg);
    edge->start();
  } catch (const std::exception& e) {
    log::edge().error("cannot start the edge: {}", e.what());
    return 1;
  }
  // Tests and scripts bind port 0 and read the real ports from these lines.
  std::printf("mcpgate edge: listening on %s (clients)\n", net::endpoint_text(edge->client_endpoint()).c_str());
  std::printf("mcpgate edge: listening on %s (connectors)\n", net::endpoint_text(edge->connector_endpoint()).c_str());
  // On the edge's own thread: the pages read its state without locks.
  std::unique_ptr<observability::admin_server> admin;
  if (cfg->admin.enabled) {
    observability::admin_pages pages;
    pages.not_ready = [&edge] { return edge->not_ready(); };
    pages.metrics = [&edge] { return page(edge->metrics_text()); };
    pages.status_json = [&edge] { return page(edge->status_json()); };
    try {
      admin = std::make_unique<observability::admin_server>(io, cfg->admin, std::move(pages));
    } catch (const std::exception& e) {
      log::edge().error("cannot start the edge: {}", e.what());
      return 1;
    }
    admin->start();
    std::printf("mcpgate admin: listening on %s (/healthz /readyz /metrics /status)\n",
                net::endpoint_text(admin->endpoint()).c_str());
  }
  std::fflush(stdout);
  run_until_signal(io, log::edge(), [&] {
    if (admin) admin->stop();
    edge->stop(cfg->shutdown_timeout);
  });
  log::edge().info("edge stopped");
  return 0;
}

int run_connect(const connect_options& options) {
  observability::init_logging(options.log_level == "debug"  ? config::log_level::debug
                              : options.log_level == "warn" ? config::log_level::warn
                              : options.log_level == "error" ? config::log_level::error
                                                             : config::log_level::info);
  observability::configure_logging(
      {.format = options.log_format == "json" ? config::log_format::json : config::log_format::text});
  if (const auto why = tunnel::check_connector_settings(options.settings); !why.empty()) {
    log::connector().error("{}", why);
    return 2;
  }
  asio::io_context io(1);
  std::unique_ptr<tunnel::connector> connector;
  int status = 0;
  try {
    connector = std::make_unique<tunnel::connector>(io, options.settings);
  } catch (const std::exception& e) {
    log::connector().error("cannot start the connector: {}", e.what());
    return 2;
  }
  bool announced = false;
  connector->on_connected = [&](unsigned, const std::string& domain) {
    if (announced) return;
    announced = true;
    std::printf("mcpgate connect: connected to %s, tunnel domain %s\n", options.settings.edge.c_str(), domain.c_str());
    std::fflush(stdout);
  };
  connector->on_fatal = [&](const std::string&) {
    status = 1;
    io.stop();
  };
  connector->start();
  const auto grace = std::chrono::seconds(options.shutdown_seconds);
  run_until_signal(io, log::connector(), [&] { connector->stop(grace); });
  log::connector().info("connector stopped");
  return status;
}

}  // namespace mcpgate::app
