// The sink every mcpgate logger writes through: it formats each line itself (text or JSON,
// UTC millisecond timestamp, level, component = the logger's name) and writes to a standard
// stream or to a file it can reopen (log rotation: mv + SIGHUP).
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include <spdlog/sinks/base_sink.h>

#include "config/config.hpp"

namespace mcpgate::observability {

class log_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Writes to `standard` (stderr, stdout) until open() names a file. Lines to a standard
  // stream are flushed one by one; lines to a file when the logger flushes (flush_on,
  // flush_every).
  explicit log_sink(std::FILE* standard, config::log_format format = config::log_format::text);
  ~log_sink() override;
  log_sink(const log_sink&) = delete;
  log_sink& operator=(const log_sink&) = delete;

  // Writes to `path` from now on ("" or "-": the standard stream), opened for appending and
  // created (mode 0640, less the umask) if missing. Opening the same path again is the
  // reopen after rotation. Throws std::runtime_error when the file cannot be opened; the
  // sink then goes on writing where it did.
  void open(const std::string& path);
  // open() on the current path.
  void reopen();
  void set_format(config::log_format format) { format_.store(format, std::memory_order_relaxed); }
  config::log_format format() const { return format_.load(std::memory_order_relaxed); }

  // One line whose body the caller renders (the access log's fields): `render` appends to
  // `line`, after the time, level and component, what this format needs (append_field):
  // " k=v k=v" for text, ",\"k\":v,\"k\":v" for JSON. It runs under the sink's lock, so the
  // format it is given is the one the line is written in, also while a reload changes it.
  void write_fields(spdlog::level::level_enum level, std::string_view component,
                    const std::function<void(config::log_format, std::string& line)>& render);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  void begin_line(config::log_format format, spdlog::log_clock::time_point time, spdlog::level::level_enum level,
                  std::string_view component);
  void end_line(config::log_format format);

  std::FILE* standard_;
  std::FILE* file_ = nullptr;  // owned; nullptr while writing to standard_
  std::string path_;
  std::atomic<config::log_format> format_;
  std::string line_;  // reused: no allocation per line once it has grown
  // The "YYYY-MM-DDTHH:MM:SS" of the last line, rendered once per second.
  std::int64_t cached_second_ = -1;
  std::string cached_time_;
};

// One field of a write_fields line: ` name=value` (text: "-" when empty; quoted as a JSON
// string when it holds a space, quote, '=', backslash or control character) or
// `,"name":"value"` (JSON). `number`: the value is written as is (JSON: unquoted).
void append_field(std::string& line, config::log_format format, std::string_view name, std::string_view value,
                  bool number = false);

// `text` as the inside of a JSON string.
void append_json_escaped(std::string& out, std::string_view text);

// Text-mode message bodies stay on one line: control characters (a newline in a client's
// Host header or a child's stderr) are written as \n, \x1b, ..., so no input can forge a line.
void append_text_escaped(std::string& out, std::string_view text);

}  // namespace mcpgate::observability
