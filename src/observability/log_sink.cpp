#include "observability/log_sink.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iterator>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

namespace mcpgate::observability {

namespace {

std::string_view text_level(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "TRACE";
    case spdlog::level::debug: return "DEBUG";
    case spdlog::level::info: return "INFO";
    case spdlog::level::warn: return "WARN";
    case spdlog::level::err: return "ERROR";
    case spdlog::level::critical: return "CRIT";
    default: return "OFF";
  }
}

// The words of `log_level`, so a JSON consumer filters on the values it configures.
std::string_view json_level(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

void append_control(std::string& out, unsigned char c) {
  switch (c) {
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default: fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
  }
}

bool needs_quotes(std::string_view value) {
  if (value == "-") return true;  // "-" alone means empty
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      append_control(out, c);
    } else {
      out += static_cast<char>(c);  // UTF-8 passes through; invalid bytes are the client's words
    }
  }
}

void append_text_escaped(std::string& out, std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) append_control(out, c);
    else out += static_cast<char>(c);
  }
}

void append_field(std::string& line, config::log_format format, std::string_view name, std::string_view value,
                  bool number) {
  if (format == config::log_format::json) {
    line += ",\"";
    line += name;
    line += number ? "\":" : "\":\"";
    append_json_escaped(line, value);
    if (!number) line += '"';
    return;
  }
  line += ' ';
  line += name;
  line += '=';
  if (value.empty()) {
    line += '-';
  } else if (needs_quotes(value)) {
    line += '"';
    append_json_escaped(line, value);
    line += '"';
  } else {
    line += value;
  }
}

log_sink::log_sink(std::FILE* standard, config::log_format format) : standard_(standard), format_(format) {}

log_sink::~log_sink() {
  std::lock_guard lock(mutex_);
  if (file_ != nullptr) std::fclose(file_);
  else std::fflush(standard_);
}

void log_sink::open(const std::string& path) {
  std::FILE* next = nullptr;
  if (!path.empty() && path != "-") {
    // 0640: operators in the log group may read it; the umask can only narrow that.
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    next = ::fdopen(fd, "a");
    if (next == nullptr) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error("cannot open " + path + ": " + std::strerror(e));
    }
  }
  std::lock_guard lock(mutex_);
  if (file_ != nullptr) std::fclose(file_);  // flushes what the old file still buffers
  else std::fflush(standard_);
  file_ = next;
  path_ = next != nullptr ? path : std::string();
}

void log_sink::reopen() {
  std::string path;
  {
    std::lock_guard lock(mutex_);
    path = path_;
  }
  if (!path.empty()) open(path);
}

void log_sink::begin_line(config::log_format format, spdlog::log_clock::time_point time,
                          spdlog::level::level_enum level, std::string_view component) {
  const auto since_epoch = time.time_since_epoch();
  const auto second = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
  if (second != cached_second_) {
    const std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_time_.assign(buf, n);
    cached_second_ = second;
  }
  line_.clear();
  auto out = std::back_inserter(line_);
  if (format == config::log_format::json) {
    fmt::format_to(out, R"({{"time":"{}.{:03}Z","level":"{}","component":")", cached_time_, millis, json_level(level));
    append_json_escaped(line_, component);
    line_ += '"';
  } else {
    fmt::format_to(out, "{}.{:03}Z {:<5} {:<8}", cached_time_, millis, text_level(level), component);
  }
}

void log_sink::end_line(config::log_format format) {
  if (format == config::log_format::json) line_ += '}';
  line_ += '\n';
  if (file_ != nullptr) {
    std::fwrite(line_.data(), 1, line_.size(), file_);
  } else {
    // A pipe to docker / journald / a test reader: each line at once, as spdlog's stdout and
    // stderr sinks did (readers wait for a line, not for a second).
    std::fwrite(line_.data(), 1, line_.size(), standard_);
    std::fflush(standard_);
  }
  // A line must not leave half of a huge buffer behind for the next one.
  if (line_.capacity() > 64 * 1024) std::string().swap(line_);
}

void log_sink::sink_it_(const spdlog::details::log_msg& msg) {
  const auto format = format_.load(std::memory_order_relaxed);
  const std::string_view payload(msg.payload.data(), msg.payload.size());
  begin_line(format, msg.time, msg.level, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
  if (format == config::log_format::json) {
    line_ += R"(,"msg":")";
    append_json_escaped(line_, payload);
    line_ += '"';
  } else {
    line_ += ' ';
    append_text_escaped(line_, payload);
  }
  end_line(format);
}

void log_sink::write_fields(spdlog::level::level_enum level, std::string_view component,
                            const std::function<void(config::log_format, std::string& line)>& render) {
  std::lock_guard lock(mutex_);
  const auto format = format_.load(std::memory_order_relaxed);
  begin_line(format, spdlog::log_clock::now(), level, component);
  render(format, line_);
  end_line(format);
}

void log_sink::flush_() { std::fflush(file_ != nullptr ? file_ : standard_); }

}  // namespace mcpgate::observability
