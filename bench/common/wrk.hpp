// Running wrk from a benchmark binary and reading its rate back.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

namespace mcpgate::bench {

// wrk's "Requests/sec" for POSTs of bench/auth/post.lua (an MCP tools/call) to `path` on
// 127.0.0.1:`port`, with `token` as the bearer token when not empty. 0 when wrk failed.
inline double wrk_rate(std::uint16_t port, const std::string& path, const std::string& token, int seconds,
                       int connections = 16) {
  const char* source = std::getenv("MCPGATE_SOURCE_DIR");
  const auto script = std::string(source ? source : ".") + "/bench/auth/post.lua";
  const auto cmd = fmt::format("AUTH_BENCH_PATH='{}' AUTH_BENCH_TOKEN='{}' wrk -t1 -c{} -d{}s -s {} http://127.0.0.1:{} 2>&1",
                               path, token, connections, seconds, script, port);
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return 0;
  char line[512];
  double rate = 0;
  bool errors = false;
  while (std::fgets(line, sizeof line, pipe)) {
    std::string text(line);
    if (text.find("Requests/sec:") != std::string::npos) rate = std::stod(text.substr(text.find(':') + 1));
    if (text.find("Non-2xx") != std::string::npos) errors = true;
  }
  ::pclose(pipe);
  if (errors) std::fprintf(stderr, "  warning: %s answered non-2xx responses\n", path.c_str());
  return rate;
}

}  // namespace mcpgate::bench
