#include "auth/fetch.hpp"

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <openssl/ssl.h>

#include "net/resolve.hpp"

namespace mcpgate::auth {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using boost::system::error_code;
using clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t max_header_bytes = 16 * 1024;

struct target {
  std::string host;       // for DNS, SNI and the certificate check: no brackets, decoded
  std::uint16_t port = 443;
  std::string authority;  // the Host header: host[:port] as the URL writes it
  std::string path_and_query;
};

std::optional<target> parse_target(const std::string& url, std::string& why) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    why = "not an absolute URL: " + url.substr(0, 200);
    return std::nullopt;
  }
  if (parsed->scheme_id() != boost::urls::scheme::https) {
    why = "not https: " + url.substr(0, 200) + " (keys that check tokens must come over an authenticated channel)";
    return std::nullopt;
  }
  if (parsed->has_userinfo() || parsed->host_address().empty() ||
      parsed->host_type() == boost::urls::host_type::ipvfuture) {
    why = "no usable host in " + url.substr(0, 200);
    return std::nullopt;
  }
  target t;
  t.host = parsed->host_address();
  if (parsed->has_port()) {
    t.port = parsed->port_number();  // 0 when the port does not fit 16 bits
    if (t.port == 0) {
      why = "bad port in " + url.substr(0, 200);
      return std::nullopt;
    }
  }
  t.authority = parsed->encoded_host_and_port();
  t.path_and_query = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
  if (parsed->has_query()) t.path_and_query += "?" + std::string(parsed->encoded_query());
  return t;
}

bool same_origin(const target& a, const target& b) {
  return boost::iequals(a.host, b.host) && a.port == b.port;
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}


std::string describe(const error_code& ec, const fetch_rules& rules) {
  if (ec == beast::error::timeout) return "timed out (timeout " + std::to_string(rules.timeout.count()) + " ms)";
  if (ec == bhttp::error::body_limit) return "response too large (over " + std::to_string(rules.max_body_bytes) + " bytes)";
  if (ec == bhttp::error::header_limit) return "response header too large";
  return ec.message();
}

// One request and its response, no redirect handling; a redirect's Location goes to
// `location`.
asio::awaitable<fetch_result> exchange(const fetch_request& request, const target& t, const fetch_rules& rules,
                                       asio::ssl::context& tls, clock::time_point deadline, std::string& location) {
  fetch_result out;
  auto resolved = co_await net::resolve(t.host, t.port, deadline);
  if (resolved.error) {
    out.error = "resolving " + t.host + ": " +
                (resolved.timed_out ? describe(beast::error::timeout, rules) : resolved.error.message());
    co_return out;
  }
  for (const auto& ep : resolved.endpoints) {
    if (auto why = address_refusal(ep.address(), rules); !why.empty()) {
      out.error = "address not allowed: " + t.host + " resolves to " + why;
      co_return out;
    }
  }

  auto ex = co_await asio::this_coro::executor;
  beast::ssl_stream<beast::tcp_stream> stream(ex, tls);
  beast::get_lowest_layer(stream).expires_at(deadline);  // covers every operation below
  auto [cec, connected] = co_await beast::get_lowest_layer(stream).async_connect(resolved.endpoints, nothrow);
  if (cec) {
    out.error = "connecting to " + t.authority + ": " + describe(cec, rules);
    co_return out;
  }
  error_code literal_ec;
  asio::ip::make_address(t.host, literal_ec);
  // Names only: RFC 6066 forbids IP literals as SNI; the certificate is checked either way.
  if (literal_ec && !SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str())) {
    out.error = "cannot set SNI " + t.host;
    co_return out;
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(t.host));
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, nothrow);
  if (hec) {
    out.error = "TLS with " + t.authority + ": " + describe(hec, rules);
    co_return out;
  }

  const bool post = request.method == fetch_method::post;
  bhttp::request<bhttp::string_body> req{post ? bhttp::verb::post : bhttp::verb::get, t.path_and_query, 11};
  req.set(bhttp::field::host, t.authority);
  req.set(bhttp::field::user_agent, "mcpgate");
  req.set(bhttp::field::accept, request.accept);
  req.set(bhttp::field::accept_encoding, "identity");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (post) {
    if (!request.content_type.empty()) req.set(bhttp::field::content_type, request.content_type);
    req.body() = request.body;
  }
  req.keep_alive(false);
  req.prepare_payload();
  auto [wec, wn] = co_await bhttp::async_write(stream, req, nothrow);
  if (wec) {
    out.error = "sending the request to " + t.authority + ": " + describe(wec, rules);
    co_return out;
  }

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(max_header_bytes);
  parser.body_limit(rules.max_body_bytes);
  auto [rec, rn] = co_await bhttp::async_read(stream, buffer, parser, nothrow);
  if (rec) {
    out.error = "reading the response of " + t.authority + ": " + describe(rec, rules);
    co_return out;
  }
  auto& res = parser.get();
  out.status = res.result_int();
  out.content_type = std::string(res[bhttp::field::content_type]);
  if (const auto encoding = res[bhttp::field::content_encoding]; !encoding.empty() && !boost::iequals(encoding, "identity")) {
    out.error = t.authority + " sent a " + std::string(encoding) + " encoded body (identity was asked for)";
    co_return out;
  }
  out.body = std::move(res.body());
  if (is_redirect(out.status)) location = std::string(res[bhttp::field::location]);
  // The connection is not reused; a close_notify is not worth waiting for.
  co_return out;
}

asio::awaitable<fetch_result> run_fetch(fetch_request request, const fetch_rules& rules) {
  fetch_result out;
  for (const auto& [name, value] : request.headers) {
    if ((name + value).find_first_of("\r\n") != std::string::npos) {
      out.error = "request header " + name + " holds a line break";
      co_return out;
    }
  }
  auto tls = rules.tls ? rules.tls : client_tls_context(rules, out.error);
  if (!tls) co_return out;
  const auto deadline = clock::now() + rules.timeout;
  std::string url = std::move(request.url);
  std::optional<target> previous;
  for (unsigned hop = 0;; ++hop) {
    auto t = parse_target(url, out.error);
    if (!t) co_return out;
    if (previous && !same_origin(*previous, *t)) {
      // A body can carry credentials too (an introspected token): a 307/308 may not take
      // it to another origin.
      if (request.method == fetch_method::post && !request.body.empty()) {
        out.error = "a post was redirected to another origin: " + url.substr(0, 200);
        co_return out;
      }
      request.headers.clear();
    }
    std::string location;
    out = co_await exchange(request, *t, rules, *tls, deadline, location);
    out.final_url = url;
    if (!out.ok()) co_return out;
    if (!is_redirect(out.status)) {
      if (out.status < 200 || out.status >= 300) out.error = url + " answered " + std::to_string(out.status);
      co_return out;
    }
    if (location.empty()) {
      out.error = url + " answered " + std::to_string(out.status) + " without Location";
      co_return out;
    }
    if (hop == rules.max_redirects) {
      out.error = "more than " + std::to_string(rules.max_redirects) + " redirects (the last from " + url + ")";
      co_return out;
    }
    // A relative Location is resolved against the URL that sent it; the next hop is
    // checked like the first (https, addresses).
    auto base = boost::urls::parse_absolute_uri(url);
    auto ref = boost::urls::parse_uri_reference(location);
    boost::urls::url next;
    if (!base || !ref || !boost::urls::resolve(*base, *ref, next)) {
      out.error = url + " redirected to an unusable Location " + location.substr(0, 200);
      co_return out;
    }
    next.remove_fragment();
    if (out.status != 307 && out.status != 308 && request.method == fetch_method::post) {
      request.method = fetch_method::get;
      request.body.clear();
      request.content_type.clear();
    }
    previous = std::move(t);
    url = std::string(next.buffer());
  }
}

}  // namespace

std::shared_ptr<asio::ssl::context> client_tls_context(const fetch_rules& rules, std::string& why) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  error_code ec;
  if (rules.ca_file.empty()) ctx->set_default_verify_paths(ec);
  else ctx->load_verify_file(rules.ca_file, ec);
  if (ec) {
    why = (rules.ca_file.empty() ? std::string("system trust store") : "ca_file " + rules.ca_file) + ": " +
          ec.message();
    return nullptr;
  }
  return ctx;
}

std::string address_refusal(const asio::ip::address& address, const fetch_rules& rules) {
  if (!net::is_special_purpose(address)) return "";
  for (const auto& prefix : rules.allowed_ips) {
    if (prefix.contains(address)) return "";
  }
  return net::unmapped(address).to_string() + ", a special-purpose address (allow it with allowed_ips)";
}

asio::awaitable<fetch_result> fetch(asio::any_io_executor ex, fetch_request request, const fetch_rules& rules) {
  fetch_result out;
  try {
    out = co_await asio::co_spawn(std::move(ex), run_fetch(std::move(request), rules), asio::use_awaitable);
  } catch (const std::exception& e) {
    // Only an allocation failure gets here; callers rely on "never throws".
    out.error = std::string("fetch failed: ") + e.what();
  }
  co_return out;
}

}  // namespace mcpgate::auth
