// HTTPS GETs the gateway makes on its own behalf (an OAuth issuer's metadata and keys),
// under the rules for server-side fetches of URLs found in metadata (MCP security best
// practices, SSRF): https only, every resolved address checked before connecting, the
// connection made to those checked addresses (no second resolution a rebinding DNS server
// could answer differently), redirects re-checked, bounded time and size.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "net/ip_prefix.hpp"

namespace mcpgate::auth {

struct fetch_rules {
  // Special-purpose addresses (net::special_purpose_prefixes: loopback, private ranges,
  // link-local, ...) are refused unless inside one of these.
  std::vector<net::ip_prefix> allowed_ips;
  std::string ca_file;  // trust anchors; "" = the system's
  std::chrono::milliseconds timeout{5000};  // the whole fetch, redirects included
  std::size_t max_body_bytes = 512 * 1024;
  unsigned max_redirects = 3;
};

struct fetch_result {
  unsigned status = 0;     // of the last response; 0 when none came
  std::string body;
  std::string final_url;   // after redirects
  std::string error;       // "" on success (a 2xx answer read whole)
  bool ok() const { return error.empty(); }
};

// GET `url` (Accept: application/json). Never throws; runs on the caller's executor.
boost::asio::awaitable<fetch_result> https_get(std::string url, const fetch_rules& rules);

// Why `address` may not be fetched from ("" when it may).
std::string address_refusal(const boost::asio::ip::address& address, const fetch_rules& rules);

}  // namespace mcpgate::auth
