// Prometheus's own checker (`promtool`, Debian package prometheus, installed by
// scripts/install-deps --test) on text the tests produce: what a real scraper accepts.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace mcpgate::test {

// Runs `promtool check <what>` on `text` (metrics: on stdin; config, rules: as a file).
// "" when promtool accepts it, else what it printed (or why it could not run).
inline std::string promtool_check(const std::string& what, const std::string& text) {
  if (::access("/usr/bin/promtool", X_OK) != 0) return "promtool is missing: run scripts/install-deps --test";
  const auto file = std::filesystem::temp_directory_path() /
                    ("mcpgate-promtool-" + std::to_string(::getpid()) + "-" + what + ".txt");
  std::ofstream(file) << text;
  const std::string cmd = what == "metrics" ? "/usr/bin/promtool check metrics < '" + file.string() + "' 2>&1"
                                            : "/usr/bin/promtool check " + what + " '" + file.string() + "' 2>&1";
  std::string output;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return "cannot run promtool";
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = ::pclose(pipe);
  std::filesystem::remove(file);
  return status == 0 ? std::string() : (output.empty() ? std::string("promtool failed") : output);
}

}  // namespace mcpgate::test
