#include "config/config.hpp"

#include <string_view>

namespace mcpgate::config {

std::string upstream_target::authority() const {
  if (stdio()) return "stdio";
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string upstream_target::to_string() const {
  if (stdio()) return "stdio:" + stdio_command;
  return scheme + "://" + authority();
}

namespace {

// Length-prefixed fields: no two different settings give the same string.
struct identity_writer {
  std::string out;
  void operator()(std::string_view field) {
    out += std::to_string(field.size());
    out += ':';
    out += field;
  }
};

}  // namespace

std::string oauth_settings::key_source_identity() const {
  identity_writer add;
  add(issuer);
  add(jwks_uri);
  add(ca_file);
  for (const auto& prefix : allowed_ips) add(prefix.to_string());
  add("|");
  add(std::to_string(refresh_interval.count()));
  return std::move(add.out);
}

std::string stdio_server::identity() const {
  identity_writer add;
  auto& out = add.out;
  for (const auto& a : argv) add(a);
  out += '|';
  for (const auto& n : pass_env) add(n);
  out += '|';
  for (const auto& [k, v] : env) {
    add(k);
    add(v);
  }
  out += '|';
  add(cwd);
  add(user);
  add(shell ? "shell" : "exec");
  add(shared ? "shared" : "per-session");
  add(std::to_string(max_processes));
  add(std::to_string(idle_timeout.count()));
  add(std::to_string(start_timeout.count()));
  add(std::to_string(max_message_bytes));
  return std::move(out);
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

const char* to_string(log_format format) { return format == log_format::json ? "json" : "text"; }

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
    case rate_limit::key_part::caller: return "caller";
  }
  return "client_ip";
}

}  // namespace mcpgate::config
