// Reading a config file into a validated config snapshot.
//
// Loading never stops at the first problem: every error (and warning) is collected with
// its file:line:column, the key path ("routes.echo", "upstream.allowed_ips[2]"), the
// offending value and what was expected, so `mcpgate validate` can print them all at once.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace mcpgate::config {

struct diagnostic {
  enum class severity { error, warning };
  severity level = severity::error;
  std::string file;      // "" when loaded from a string
  int line = 0;          // 1-based; 0 when the problem has no single place
  int column = 0;        // 1-based
  std::string key_path;  // "routes.echo", "listeners[0].mode"
  std::string message;   // what is wrong, the value, and what was expected

  // "FILE:LINE:COL: error: KEY_PATH: MESSAGE"
  std::string to_string() const;
};

// Command-line values that override keys of the file (as mcp-proxy's -tunnel-domain does).
struct overrides {
  std::optional<std::string> tunnel_domain;
  // "Now" for ip_sets time windows (expiry warnings); unset: the system clock. Tests and
  // `allowlist check --at` set it.
  std::optional<std::chrono::system_clock::time_point> now;
};

struct load_result {
  std::shared_ptr<const config> snapshot;  // null when there is any error
  std::vector<diagnostic> diagnostics;     // errors and warnings, in file order

  bool ok() const { return snapshot != nullptr; }
  std::size_t error_count() const;
};

load_result load_file(const std::string& path, const overrides& over = {});
load_result load_string(std::string_view yaml, const std::string& name = "", const overrides& over = {});

struct edge_load_result {
  std::shared_ptr<const edge_config> snapshot;  // null when there is any error
  std::vector<diagnostic> diagnostics;
  bool ok() const { return snapshot != nullptr; }
};
edge_load_result load_edge_file(const std::string& path);
edge_load_result load_edge_string(std::string_view yaml, const std::string& name = "");

// A normalised, human-readable description of a loaded config (what `validate` prints):
// listeners, every route with its matching rule and upstream, upstream policy, limits.
std::string summarize(const config& cfg);

}  // namespace mcpgate::config
