#include "auth/fetch.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <openssl/ssl.h>

namespace mcpgate::auth {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t max_header_bytes = 16 * 1024;

const net::ip_prefix_set& special_purpose() {
  static const net::ip_prefix_set set(net::special_purpose_prefixes());
  return set;
}

struct target {
  std::string host;  // without brackets
  std::string port;
  std::string path_and_query;
};

std::optional<target> parse_target(const std::string& url, std::string& why) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    why = "not an absolute URL";
    return std::nullopt;
  }
  if (parsed->scheme() != "https") {
    why = "not https (the keys that check tokens must come over an authenticated channel)";
    return std::nullopt;
  }
  if (parsed->has_userinfo() || parsed->host().empty()) {
    why = "no host, or user info in the URL";
    return std::nullopt;
  }
  target t;
  t.host = parsed->host_type() == boost::urls::host_type::ipv6 ? std::string(parsed->host_address())
                                                                : std::string(parsed->host());
  t.port = parsed->has_port() ? std::string(parsed->port()) : "443";
  t.path_and_query = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
  if (parsed->has_query()) t.path_and_query += "?" + std::string(parsed->encoded_query());
  return t;
}

std::shared_ptr<asio::ssl::context> client_context(const fetch_rules& rules, std::string& why) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  error_code ec;
  if (rules.ca_file.empty()) ctx->set_default_verify_paths(ec);
  else ctx->load_verify_file(rules.ca_file, ec);
  if (ec) {
    why = (rules.ca_file.empty() ? std::string("system trust store") : "ca_file " + rules.ca_file) + ": " + ec.message();
    return nullptr;
  }
  return ctx;
}

// One request, no redirect handling. Fills `location` for a 3xx.
asio::awaitable<fetch_result> fetch_once(const std::string& url, const fetch_rules& rules, asio::ssl::context& tls,
                                         std::chrono::steady_clock::time_point deadline, std::string& location) {
  fetch_result out;
  out.final_url = url;
  auto t = parse_target(url, out.error);
  if (!t) co_return out;
  auto ex = co_await asio::this_coro::executor;

  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  const auto literal = asio::ip::make_address(t->host, ec);
  const bool host_is_ip = !ec;
  if (host_is_ip) {
    endpoints.emplace_back(literal, static_cast<std::uint16_t>(std::stoul(t->port)));
  } else {
    tcp::resolver resolver(ex);
    asio::steady_timer watchdog(ex, deadline);
    watchdog.async_wait([&](error_code wec) {
      if (!wec) resolver.cancel();
    });
    auto [rec, results] = co_await resolver.async_resolve(t->host, t->port, nothrow);
    watchdog.cancel();
    if (rec) {
      out.error = "resolving " + t->host + ": " + rec.message();
      co_return out;
    }
    for (const auto& r : results) endpoints.push_back(r.endpoint());
  }
  for (const auto& ep : endpoints) {
    if (auto why = address_refusal(ep.address(), rules); !why.empty()) {
      out.error = t->host + " resolves to " + why;
      co_return out;
    }
  }

  beast::ssl_stream<beast::tcp_stream> stream(ex, tls);
  beast::get_lowest_layer(stream).expires_at(deadline);
  auto [cec, connected] = co_await beast::get_lowest_layer(stream).async_connect(endpoints, nothrow);
  if (cec) {
    out.error = "connecting to " + t->host + ": " + cec.message();
    co_return out;
  }
  // Names only: RFC 6066 forbids IP literals as SNI; the certificate is checked either way.
  if (!host_is_ip && !SSL_set_tlsext_host_name(stream.native_handle(), t->host.c_str())) {
    out.error = "cannot set SNI";
    co_return out;
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(t->host));
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, nothrow);
  if (hec) {
    out.error = "TLS with " + t->host + ": " + hec.message();
    co_return out;
  }
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, t->path_and_query, 11};
  req.set(bhttp::field::host, t->port == "443" ? t->host : t->host + ":" + t->port);
  req.set(bhttp::field::accept, "application/json");
  req.set(bhttp::field::accept_encoding, "identity");
  req.set(bhttp::field::user_agent, "mcpgate");
  req.keep_alive(false);
  auto [wec, wn] = co_await bhttp::async_write(stream, req, nothrow);
  if (wec) {
    out.error = "sending the request to " + t->host + ": " + wec.message();
    co_return out;
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(max_header_bytes);
  parser.body_limit(rules.max_body_bytes);
  auto [rec, rn] = co_await bhttp::async_read(stream, buffer, parser, nothrow);
  if (rec == bhttp::error::body_limit) {
    out.error = "response from " + t->host + " over " + std::to_string(rules.max_body_bytes) + " bytes";
    co_return out;
  }
  if (rec) {
    out.error = "reading the response of " + t->host + ": " + rec.message();
    co_return out;
  }
  auto& res = parser.get();
  out.status = res.result_int();
  if (out.status >= 300 && out.status < 400) {
    location = std::string(res[bhttp::field::location]);
    co_return out;
  }
  if (out.status < 200 || out.status >= 300) {
    out.error = url + " answered " + std::to_string(out.status);
    co_return out;
  }
  out.body = std::move(res.body());
  // The connection is not reused; a close_notify is not worth waiting for.
  co_return out;
}

}  // namespace

std::string address_refusal(const asio::ip::address& address, const fetch_rules& rules) {
  if (!special_purpose().contains(address)) return "";
  for (const auto& prefix : rules.allowed_ips) {
    if (prefix.contains(address)) return "";
  }
  return net::unmapped(address).to_string() + ", which is not a public address (allow it with allowed_ips)";
}

asio::awaitable<fetch_result> https_get(std::string url, const fetch_rules& rules) {
  fetch_result out;
  std::string why;
  auto tls = client_context(rules, why);
  if (!tls) {
    out.error = why;
    co_return out;
  }
  const auto deadline = std::chrono::steady_clock::now() + rules.timeout;
  for (unsigned hop = 0;; ++hop) {
    std::string location;
    out = co_await fetch_once(url, rules, *tls, deadline, location);
    if (!out.ok() || location.empty()) {
      if (out.ok() && out.status >= 300) out.error = url + " answered " + std::to_string(out.status) + " without Location";
      co_return out;
    }
    if (hop == rules.max_redirects) {
      out.error = "more than " + std::to_string(rules.max_redirects) + " redirects";
      co_return out;
    }
    // A relative Location is resolved against the URL that sent it; the next hop is
    // checked like the first (https, addresses).
    auto base = boost::urls::parse_absolute_uri(url);
    auto ref = boost::urls::parse_uri_reference(location);
    boost::urls::url next;
    if (!base || !ref || !boost::urls::resolve(*base, *ref, next)) {
      out.error = "unusable redirect Location " + location.substr(0, 200);
      co_return out;
    }
    url = std::string(next.buffer());
  }
}

}  // namespace mcpgate::auth
