// Fuzz target for what the gateway does with a request header from the network: Beast
// parses it under the gateway's header limit, then the gateway's own code reads a proxy's
// client-address report from it, routes it and rewrites its header for the upstream. None of that may crash; the rewritten header must
// carry no hop-by-hop field and the upstream's Host.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "config/config.hpp"
#include "http/forwarding.hpp"
#include "http/router.hpp"

namespace {

const mcpgate::config::config& fuzz_config() {
  static const mcpgate::config::config cfg = [] {
    mcpgate::config::config c;
    c.tunnel_domain = "tunnel.example";
    for (const char* key : {"*", "echo", "mcp.example.com"}) {
      for (const char* path : {"/", "/mcp", "/sse"}) {
        mcpgate::config::route r;
        r.host_key = key;
        r.name = std::string(key) + path;
        r.path = path;
        r.upstream = {"http", "10.0.0.1", 8080};
        c.routes.push_back(r);
      }
    }
    return c;
  }();
  return cfg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace bhttp = boost::beast::http;
  using namespace mcpgate;
  static const http::router routes(fuzz_config());

  bhttp::request_parser<bhttp::empty_body> parser;
  parser.header_limit(16 * 1024);
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!parser.is_header_done()) return 0;

  auto req = parser.get();
  // The client address a trusted proxy reports on a WebSocket upgrade: whatever it is,
  // what comes back must be a parseable address.
  if (auto reported = http::forwarded_client_address(req)) {
    boost::system::error_code aec;
    boost::asio::ip::make_address(*reported, aec);
    if (aec) __builtin_trap();
  }
  const auto target = req.target();
  (void)http::has_dot_segments(target);
  const auto host = req[bhttp::field::host];
  (void)http::router::normalise_host(host);
  const auto* route = routes.match(host, target);
  if (!route) return 0;

  http::prepare_upstream_request(req.base(), *route, {"192.0.2.1", false, std::string(host)});
  if (req.count(bhttp::field::connection) || req.count(bhttp::field::transfer_encoding) ||
      req.count(bhttp::field::upgrade) || req.count(bhttp::field::te)) {
    __builtin_trap();
  }
  if (req[bhttp::field::host] != route->upstream.authority()) __builtin_trap();
  if (req.target() != target) __builtin_trap();
  return 0;
}
