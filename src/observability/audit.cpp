#include "observability/audit.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <stdexcept>

#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "observability/logging.hpp"

namespace mcpgate::observability {

namespace {

std::mutex audit_mutex;  // configure vs write: the logger pointer
std::shared_ptr<spdlog::logger> audit_logger;
std::atomic<bool> enabled{false};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool names_a_secret(std::string_view key, const config::audit_settings& settings) {
  const auto k = lower(key);
  return std::any_of(settings.redact.begin(), settings.redact.end(),
                     [&](const std::string& word) { return k.find(lower(word)) != std::string::npos; });
}

void redact(boost::json::value& v, const config::audit_settings& settings) {
  if (auto* o = v.if_object()) {
    for (auto& [key, value] : *o) {
      if (names_a_secret(key, settings)) {
        value = "[redacted]";
      } else {
        redact(value, settings);
      }
    }
  } else if (auto* a = v.if_array()) {
    for (auto& item : *a) redact(item, settings);
  }
}

}  // namespace

void configure_audit(const config::audit_settings& settings) {
  std::shared_ptr<spdlog::logger> logger;
  if (settings.enabled) {
    spdlog::sink_ptr sink;
    if (settings.file.empty() || settings.file == "-") {
      sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    } else {
      try {
        sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(settings.file, false);  // append
      } catch (const spdlog::spdlog_ex& e) {
        throw std::runtime_error("audit.file: cannot open " + settings.file + ": " + e.what());
      }
    }
    logger = std::make_shared<spdlog::logger>("audit", std::move(sink));
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::info);  // an audit line must not sit in a buffer when the process dies
  }
  std::lock_guard lock(audit_mutex);
  if (audit_logger) audit_logger->flush();
  audit_logger = std::move(logger);
  enabled = settings.enabled;
}

bool audit_enabled() { return enabled.load(std::memory_order_relaxed); }

void write_audit(const audit_record& r) {
  std::shared_ptr<spdlog::logger> logger;
  {
    std::lock_guard lock(audit_mutex);
    logger = audit_logger;
  }
  if (!logger) return;
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - seconds).count();
  std::string line = fmt::format(
      R"({{"time":"{:%Y-%m-%dT%H:%M:%S}.{:03}Z","type":"audit","route":"{}","client":"{}","caller":"{}","session":"{}","method":"{}","name":"{}","id":{},"outcome":"{}","error_code":{},"reason":"{}","status":{},"duration_ms":{:.3f},"bytes_in":{},"bytes_out":{})",
      seconds, millis, json_escape(r.route), json_escape(r.client), json_escape(r.caller), json_escape(r.session), json_escape(r.method),
      json_escape(r.name), r.id.empty() ? "null" : r.id, r.outcome,
      r.error_code ? std::to_string(*r.error_code) : std::string("null"), json_escape(r.reason), r.status,
      static_cast<double>(r.duration.count()) / 1000.0, r.bytes_in, r.bytes_out);
  if (!r.arguments.empty()) {
    line += r.arguments_truncated ? R"(,"arguments_truncated":")" + json_escape(r.arguments) + "\""
                                  : R"(,"arguments":)" + r.arguments;
  }
  line += "}";
  logger->info(line);
}

std::string audit_arguments(const boost::json::value& arguments, const config::audit_settings& settings,
                            bool& truncated) {
  boost::json::value copy = arguments;
  redact(copy, settings);
  auto text = boost::json::serialize(copy);
  truncated = text.size() > settings.max_argument_bytes;
  if (truncated) text.resize(settings.max_argument_bytes);
  return text;
}

}  // namespace mcpgate::observability
