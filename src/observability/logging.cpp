#include "observability/logging.hpp"

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

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

std::shared_ptr<spdlog::logger> access_logger() {
  static const auto logger = [] {
    auto l = std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::info);
    // Buffered: one write(2) per line would cost more than proxying a small request.
    // The periodic flush (init_logging) bounds how late a line can appear.
    l->flush_on(spdlog::level::err);
    spdlog::register_logger(l);  // so that flush_every() reaches it
    return l;
  }();
  return logger;
}

}  // namespace

void init_logging(config::log_level level) {
  static const bool once = [] {
    auto logger = std::make_shared<spdlog::logger>("mcpgate", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    spdlog::flush_every(std::chrono::seconds(1));
    return true;
  }();
  (void)once;
  (void)access_logger();
  set_log_level(level);
}

void set_log_level(config::log_level level) { spdlog::set_level(to_spdlog(level)); }

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);  // UTF-8 passes through; invalid bytes are the client's words
        }
    }
  }
  return out;
}

void write_access_log(const access_record& r) {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - seconds).count();
  access_logger()->info(
      R"({{"time":"{:%Y-%m-%dT%H:%M:%S}.{:03}Z","type":"access","client":"{}","peer":"{}","method":"{}","host":"{}","path":"{}","route":"{}","upstream":"{}","status":{},"bytes_in":{},"bytes_out":{},"duration_ms":{:.3f},"reason":"{}","rule":"{}","caller":"{}","mcp_session":"{}","mcp_method":"{}","mcp_name":"{}"}})",
      seconds, millis, json_escape(r.client), json_escape(r.peer), json_escape(r.method), json_escape(r.host), json_escape(r.path),
      json_escape(r.route), json_escape(r.upstream), r.status, r.bytes_in, r.bytes_out,
      static_cast<double>(r.duration.count()) / 1000.0, json_escape(r.reason), json_escape(r.rule), json_escape(r.caller), json_escape(r.mcp_session),
      json_escape(r.mcp_method), json_escape(r.mcp_name));
}

}  // namespace mcpgate::observability
