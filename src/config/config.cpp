#include "config/config.hpp"

namespace mcpgate::config {

std::string upstream_target::authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

const char* to_string(log_level level) {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "info";
}

const char* to_string(listener_mode mode) {
  switch (mode) {
    case listener_mode::plain: return "plain";
    case listener_mode::tls: return "tls";
    case listener_mode::ws: return "ws";
  }
  return "plain";
}

const char* to_string(rate_limit::key_part part) {
  switch (part) {
    case rate_limit::key_part::client_ip: return "client_ip";
    case rate_limit::key_part::route: return "route";
    case rate_limit::key_part::tool: return "tool";
    case rate_limit::key_part::mcp_method: return "mcp_method";
  }
  return "client_ip";
}

}  // namespace mcpgate::config
