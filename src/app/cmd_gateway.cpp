// `mcpgate gateway`: load the config, serve it, reload on SIGHUP, drain on SIGTERM/SIGINT.
#include <csignal>
#include <cstdio>
#include <functional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "app/commands.hpp"
#include "app/gateway.hpp"
#include "config/loader.hpp"
#include "net/listen.hpp"
#include "observability/log.hpp"
#include "observability/logging.hpp"

namespace mcpgate::app {

namespace {

void report_diagnostics(const config::load_result& loaded) {
  for (const auto& d : loaded.diagnostics) {
    if (d.level == config::diagnostic::severity::error) {
      log::config().error("{}", d.to_string());
    } else {
      log::config().warn("{}", d.to_string());
    }
  }
}

}  // namespace

int run_gateway(const gateway_options& options) {
  observability::init_logging(config::log_level::info);
  config::overrides over;
  over.tunnel_domain = options.tunnel_domain;
  auto loaded = config::load_file(options.config_path, over);
  report_diagnostics(loaded);
  if (!loaded.ok()) {
    log::config().error("config {} has {} error(s); not starting", options.config_path, loaded.error_count());
    return 1;
  }
  observability::set_log_level(loaded.snapshot->level);

  std::unique_ptr<gateway> gw;
  try {
    gw = std::make_unique<gateway>(loaded.snapshot);
    gw->start();
  } catch (const std::exception& e) {
    log::gateway().error("cannot start: {}", e.what());
    return 1;
  }
  for (const auto& l : gw->listeners()) {
    // Tests and scripts bind port 0 and read the real port from this line.
    std::printf("mcpgate gateway: listening on %s (%s)\n", net::endpoint_text(l.endpoint).c_str(),
                config::to_string(l.config.mode));
  }
  if (const auto admin = gw->admin_endpoint()) {
    std::printf("mcpgate admin: listening on %s (/healthz /readyz /metrics /status)\n", net::endpoint_text(*admin).c_str());
  }
  std::fflush(stdout);

  boost::asio::io_context control;
  boost::asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  std::signal(SIGPIPE, SIG_IGN);
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                               int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      auto next = config::load_file(options.config_path, over);
      report_diagnostics(next);
      std::string error;
      if (!next.ok()) {
        log::config().error("config reload failed: {} error(s) in {}; keeping the previous config", next.error_count(),
                            options.config_path);
        // The status page shows the first error, the log has them all.
        for (const auto& d : next.diagnostics) {
          if (d.level == config::diagnostic::severity::error) {
            gw->note_failed_reload(d.to_string());
            break;
          }
        }
      } else if (!gw->reload(next.snapshot, error)) {
        log::config().error("config reload failed: {}; keeping the previous config", error);
      } else {
        log::config().info("config reloaded from {}", options.config_path);
      }
      // A successful reload opened the log files anew; after a failed one, logrotate's
      // SIGHUP must still move writing to new files.
      if (!next.ok() || !error.empty()) observability::reopen_logs();
      signals.async_wait(on_signal);
      return;
    }
    const auto timeout = gw->snapshot()->cfg->shutdown_timeout;
    log::gateway().info("shutting down: draining in-flight exchanges for up to {} ms", timeout.count());
    gw->shutdown(timeout);
    log::gateway().info("shutdown complete");
  };
  signals.async_wait(on_signal);
  control.run();
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
  return 0;
}

}  // namespace mcpgate::app
