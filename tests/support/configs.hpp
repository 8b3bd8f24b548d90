// YAML snippets shared by integration tests.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace mcpgate::test {

// One plain listener on 127.0.0.1:0 routing /mcp to 127.0.0.1:<upstream_port>;
// `extra` is appended verbatim (top-level keys).
inline std::string plain_config(std::uint16_t upstream_port, const std::string& route_extra = {},
                                const std::string& extra = {}) {
  return fmt::format(R"(
listeners:
  - {{ address: "127.0.0.1:0", mode: plain }}
routes:
  "*":
    - {{ path: /mcp, upstream: "http://127.0.0.1:{}" {} }}
upstream:
  allowed_ips: [127.0.0.0/8]
workers: 2
{}
)",
                     upstream_port, route_extra, extra);
}

}  // namespace mcpgate::test

#include "support/http_test_client.hpp"

namespace mcpgate::test {

// A POST /mcp the way MCP clients send it.
inline http::request<http::string_body> mcp_post(std::string body, std::string host = "127.0.0.1") {
  auto req = make_request(http::verb::post, "/mcp", host, std::move(body));
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "application/json, text/event-stream");
  return req;
}

}  // namespace mcpgate::test
