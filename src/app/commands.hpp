// The subcommands of the mcpgate binary. main.cpp parses the command line (CLI11) into
// these option structs; each run_* function is the whole subcommand and returns the exit code.
#pragma once

#include <optional>
#include <string>

namespace mcpgate::app {

struct gateway_options {
  std::string config_path = "/etc/mcp-gateway/config.yaml";  // mcp-proxy's default
  std::optional<std::string> tunnel_domain;                   // -tunnel-domain overrides the key
};
int run_gateway(const gateway_options& options);

struct validate_options {
  std::string config_path;
  std::optional<std::string> tunnel_domain;
  bool quiet = false;  // errors only, no summary
};
int run_validate(const validate_options& options);

struct hello_options {
  std::string listen = "127.0.0.1:3000";  // host:port; port 0 picks a free one
  unsigned slow_default_steps = 5;
};
int run_hello(const hello_options& options);

}  // namespace mcpgate::app
