// The process log, one named logger per component, all writing through one sink (its
// format and file: observability::configure_logging). The component is the logger's name
// and appears on every line, so `grep ' tunnel '` or a JSON filter on "component" picks one
// part of the process:
//   gateway    lifecycle, routes, certificates, upstream health, the in-process connector
//   config     loading and reloading the config
//   http       connections and exchanges: TLS, routing, upstreams, policies
//   auth       tokens, keys and refusals
//   mcp        MCP servers of our own (`mcpgate hello`)
//   stdio      stdio upstreams (the processes the gateway runs)
//   tunnel     the HTTP/2 link edge and connector share
//   edge       `mcpgate edge`
//   connector  the connector (`mcpgate connect`, or inside the gateway)
//   admin      the admin listener
// Usage: log::http().warn("upstream unavailable route={} ...", ...).
#pragma once

#include <spdlog/logger.h>

namespace mcpgate::log {

spdlog::logger& gateway();
spdlog::logger& config();
spdlog::logger& http();
spdlog::logger& auth();
spdlog::logger& mcp();
spdlog::logger& stdio();
spdlog::logger& tunnel();
spdlog::logger& edge();
spdlog::logger& connector();
spdlog::logger& admin();

}  // namespace mcpgate::log
