// HTTPS requests the gateway makes on its own behalf (an OAuth issuer's metadata and keys),
// under the rules for server-side fetches of URLs found in metadata (MCP security best
// practices, SSRF): https only, every resolved address checked before connecting, the
// connection made to those checked addresses (no second resolution a rebinding DNS server
// could answer differently), redirects re-checked, bounded time and size.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "net/ip_prefix.hpp"

namespace boost::asio::ssl {
class context;
}

namespace mcpgate::auth {

struct fetch_rules {
  // Special-purpose addresses (net::is_special_purpose: loopback, private ranges,
  // link-local, ...) are refused unless inside one of these.
  std::vector<net::ip_prefix> allowed_ips;
  std::string ca_file;  // trust anchors; "" = the system's
  std::chrono::milliseconds timeout{5000};  // the whole fetch, redirects included
  std::size_t max_body_bytes = 512 * 1024;
  unsigned max_redirects = 3;
  // Built from ca_file by client_tls_context() once, for callers that fetch on the data
  // path (loading a trust store costs milliseconds of file reading). Null: built per fetch.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

// A TLS client context trusting rules.ca_file (or the system's store); null with `why`.
std::shared_ptr<boost::asio::ssl::context> client_tls_context(const fetch_rules& rules, std::string& why);

enum class fetch_method { get, post };

struct fetch_request {
  std::string url;  // https only
  fetch_method method = fetch_method::get;
  std::string body;          // sent with post
  std::string content_type;  // of `body`
  std::string accept = "application/json";
  // Further request headers (say an Authorization for an introspection endpoint). They are
  // dropped at a redirect to another origin, which must not receive credentials meant for
  // this one.
  std::vector<std::pair<std::string, std::string>> headers;

  static fetch_request get(std::string url) {
    fetch_request r;
    r.url = std::move(url);
    return r;
  }
};

struct fetch_result {
  unsigned status = 0;        // of the last response; 0 when none came
  std::string body;           // of the last response, 2xx or not
  std::string content_type;   // of the last response
  std::string final_url;      // after redirects
  std::string error;          // "" on success: a 2xx response read whole
  bool ok() const { return error.empty(); }
};

// Performs `request` with its I/O on `ex` and completes on the awaiting coroutine's
// executor. Redirects (301, 302, 303, 307, 308) are followed up to rules.max_redirects,
// each target checked as the first; 307 and 308 repeat a post (on the same origin only:
// its body may hold a credential), the others turn it into a get. Never throws; no
// cookies, no compression, one connection per request.
boost::asio::awaitable<fetch_result> fetch(boost::asio::any_io_executor ex, fetch_request request,
                                           const fetch_rules& rules);

// Why `address` may not be fetched from ("" when it may): a special-purpose address outside
// rules.allowed_ips.
std::string address_refusal(const boost::asio::ip::address& address, const fetch_rules& rules);

}  // namespace mcpgate::auth
