#include "observability/logging.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "observability/log.hpp"
#include "observability/log_sink.hpp"

namespace mcpgate::observability {

namespace {

spdlog::level::level_enum to_spdlog(config::log_level level) {
  switch (level) {
    case config::log_level::debug: return spdlog::level::debug;
    case config::log_level::info: return spdlog::level::info;
    case config::log_level::warn: return spdlog::level::warn;
    case config::log_level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

const std::shared_ptr<log_sink>& process_sink() {
  static const auto sink = std::make_shared<log_sink>(stderr, config::log_format::text);
  return sink;
}

// JSON until configured: the access log's format before log_format existed.
const std::shared_ptr<log_sink>& access_sink() {
  static const auto sink = std::make_shared<log_sink>(stdout, config::log_format::json);
  return sink;
}

enum class component : std::size_t { gateway, config, http, auth, mcp, stdio, tunnel, edge, connector, admin, count };
constexpr std::array<const char*, static_cast<std::size_t>(component::count)> component_names{
    "gateway", "config", "http", "auth", "mcp", "stdio", "tunnel", "edge", "connector", "admin"};

// Made together on first use, and registered, so that spdlog::set_level and flush_every
// reach every one of them however early a component logs.
struct loggers {
  std::array<std::shared_ptr<spdlog::logger>, component_names.size()> by_component;
  // Never written through (write_access_log goes to the sink, with no level to filter on):
  // it is registered so that flush_every() flushes the access log too.
  std::shared_ptr<spdlog::logger> access;

  loggers() {
    for (std::size_t i = 0; i < component_names.size(); ++i) {
      auto l = std::make_shared<spdlog::logger>(component_names[i], process_sink());
      spdlog::initialize_logger(l);  // registers it, with the current level
      // Files are buffered, as a write(2) per line would cost more than proxying a small
      // request: warnings and errors go out at once, the rest within a second (flush_every).
      l->flush_on(spdlog::level::warn);
      by_component[i] = std::move(l);
    }
    access = std::make_shared<spdlog::logger>("access", access_sink());
    access->flush_on(spdlog::level::off);
    spdlog::register_logger(access);
  }
};

loggers& all_loggers() {
  static loggers instance;
  return instance;
}

spdlog::logger& logger_of(component c) { return *all_loggers().by_component[static_cast<std::size_t>(c)]; }

}  // namespace

}  // namespace mcpgate::observability

namespace mcpgate::log {

using observability::component;
spdlog::logger& gateway() { return observability::logger_of(component::gateway); }
spdlog::logger& config() { return observability::logger_of(component::config); }
spdlog::logger& http() { return observability::logger_of(component::http); }
spdlog::logger& auth() { return observability::logger_of(component::auth); }
spdlog::logger& mcp() { return observability::logger_of(component::mcp); }
spdlog::logger& stdio() { return observability::logger_of(component::stdio); }
spdlog::logger& tunnel() { return observability::logger_of(component::tunnel); }
spdlog::logger& edge() { return observability::logger_of(component::edge); }
spdlog::logger& connector() { return observability::logger_of(component::connector); }
spdlog::logger& admin() { return observability::logger_of(component::admin); }

}  // namespace mcpgate::log

namespace mcpgate::observability {

void init_logging(config::log_level level) {
  static const bool once = [] {
    auto& all = all_loggers();
    // Code that still calls spdlog::info() directly lands in the gateway component.
    spdlog::set_default_logger(all.by_component[static_cast<std::size_t>(component::gateway)]);
    spdlog::flush_every(std::chrono::seconds(1));
    return true;
  }();
  (void)once;
  set_log_level(level);
}

void set_log_level(config::log_level level) {
  (void)all_loggers();
  spdlog::set_level(to_spdlog(level));
}

void configure_logging(const config::log_settings& settings) {
  (void)all_loggers();
  try {
    process_sink()->open(settings.file);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("log_file: ") + e.what());
  }
  try {
    access_sink()->open(settings.access_file);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("access_log_file: ") + e.what());
  }
  process_sink()->set_format(settings.process_format());
  access_sink()->set_format(settings.access_format());
}

void reopen_logs() {
  for (auto* sink : {process_sink().get(), access_sink().get()}) {
    try {
      sink->reopen();
    } catch (const std::runtime_error& e) {
      log::gateway().error("log file not reopened: {}; writing on to the old one", e.what());
    }
  }
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_escaped(out, text);
  return out;
}

void write_access_log(const access_record& r) {
  const auto duration = fmt::format("{:.3f}", static_cast<double>(r.duration.count()) / 1000.0);
  const auto status = std::to_string(r.status);
  const auto bytes_in = std::to_string(r.bytes_in);
  const auto bytes_out = std::to_string(r.bytes_out);
  struct field {
    std::string_view name;
    std::string_view value;
    bool number = false;
  };
  // The JSON order and names of the access line before log_format existed (tests and
  // dashboards match on them).
  const std::array<field, 18> fields{{{"type", "access"},
                                      {"client", r.client},
                                      {"peer", r.peer},
                                      {"method", r.method},
                                      {"host", r.host},
                                      {"path", r.path},
                                      {"route", r.route},
                                      {"upstream", r.upstream},
                                      {"status", status, true},
                                      {"bytes_in", bytes_in, true},
                                      {"bytes_out", bytes_out, true},
                                      {"duration_ms", duration, true},
                                      {"reason", r.reason},
                                      {"rule", r.rule},
                                      {"caller", r.caller},
                                      {"mcp_session", r.mcp_session},
                                      {"mcp_method", r.mcp_method},
                                      {"mcp_name", r.mcp_name}}};
  // Text: what a person reads first comes first; `type` is the component there.
  static constexpr std::array<std::size_t, 17> text_order{6, 1, 2, 3, 4, 5, 8, 12, 11, 9, 10, 14, 15, 16, 17, 13, 7};
  access_sink()->write_fields(spdlog::level::info, "access", [&](config::log_format format, std::string& line) {
    const auto put = [&](const field& f) { append_field(line, format, f.name, f.value, f.number); };
    if (format == config::log_format::json) {
      for (const auto& f : fields) put(f);
    } else {
      for (const auto i : text_order) put(fields[i]);
    }
  });
}

}  // namespace mcpgate::observability
