// Helpers shared by the config tests: load a string, and assert on rendered diagnostics
// (the rendered line is what users see, so tests compare exactly that).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "config/loader.hpp"

namespace mcpgate::config::testing {

inline std::filesystem::path source_dir() {
  if (const char* dir = std::getenv("MCPGATE_SOURCE_DIR")) return dir;
  // Run by hand (not through ctest): tests/unit/config/ is three levels below the root.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

inline std::string source_path(std::string_view relative) { return (source_dir() / relative).string(); }

inline load_result load(std::string_view yaml, const overrides& over = {}) {
  return load_string(yaml, "t.yaml", over);
}

inline std::string rendered(const load_result& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += "  " + d.to_string() + "\n";
  return out.empty() ? "  (no diagnostics)\n" : out;
}

// The diagnostic, rendered as `validate` prints it, is among the result's.
inline ::testing::AssertionResult has(const load_result& r, std::string_view line) {
  for (const auto& d : r.diagnostics) {
    if (d.to_string() == line) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "missing diagnostic\n  " << line << "\namong\n" << rendered(r);
}

// Some diagnostic contains `part` (for long messages where only the gist matters).
inline ::testing::AssertionResult has_part(const load_result& r, std::string_view part) {
  for (const auto& d : r.diagnostics) {
    if (d.to_string().find(part) != std::string::npos) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no diagnostic contains\n  " << part << "\namong\n" << rendered(r);
}

inline ::testing::AssertionResult clean(const load_result& r) {
  if (r.ok() && r.diagnostics.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected a clean load, got\n" << rendered(r);
}

inline ::testing::AssertionResult loads(const load_result& r) {
  if (r.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected the config to load, got\n" << rendered(r);
}

// Enough for a config to be complete, so a test can focus on one key.
inline constexpr std::string_view listener_line = "listeners: [{ address: \"127.0.0.1:8080\" }]\n";

}  // namespace mcpgate::config::testing
