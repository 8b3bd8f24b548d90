#include "http/forwarding.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "net/ip_prefix.hpp"

namespace mcpgate::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void strip_hop_by_hop(beast_http::fields& fields) {
  // Field names listed in Connection are hop-by-hop too; collect them before erasing.
  std::vector<std::string> named;
  for (const auto& f : fields) {
    if (f.name() != beast_http::field::connection) continue;
    std::string_view value = f.value();
    while (!value.empty()) {
      const auto comma = value.find(',');
      const auto token = trim(value.substr(0, comma));
      if (!token.empty() && !iequals(token, "close") && !iequals(token, "keep-alive")) named.emplace_back(token);
      value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    }
  }
  for (const auto& name : named) {
    // Never let Connection strip the fields that carry MCP or routing semantics.
    if (iequals(name, "host") || iequals(name, "content-length")) continue;
    fields.erase(name);
  }
  static constexpr std::array hop_by_hop = {
      beast_http::field::connection,        beast_http::field::keep_alive,
      beast_http::field::proxy_connection,  beast_http::field::te,
      beast_http::field::trailer,           beast_http::field::transfer_encoding,
      beast_http::field::upgrade,           beast_http::field::proxy_authorization,
      beast_http::field::proxy_authenticate};
  for (auto f : hop_by_hop) fields.erase(f);
}

void prepare_upstream_request(beast_http::request_header<>& req, const config::route& route,
                              const forward_context& ctx) {
  strip_hop_by_hop(req);  // Transfer-Encoding too: the caller re-frames the body
  req.erase(beast_http::field::expect);

  req.set(beast_http::field::host, route.preserve_host ? ctx.original_host : route.upstream.authority());
  req.erase(beast_http::field::forwarded);
  req.set("X-Forwarded-For", ctx.client_ip);
  req.set("X-Forwarded-Proto", ctx.client_tls ? "https" : "http");
  req.set("X-Forwarded-Host", ctx.original_host);
}

std::optional<std::string> forwarded_client_address(const beast_http::fields& fields) {
  auto parse = [](std::string_view text) -> std::optional<std::string> {
    text = trim(text);
    // Brackets and a port are legal in X-Forwarded-For from some proxies: "[2001:db8::1]:443".
    if (text.size() > 2 && text.front() == '[') {
      const auto close = text.find(']');
      if (close == std::string_view::npos) return std::nullopt;
      text = text.substr(1, close - 1);
    }
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(std::string(text), ec);
    if (ec) return std::nullopt;
    return net::unmapped(address).to_string();
  };
  if (auto cf = fields["Cf-Connecting-Ip"]; !cf.empty()) {
    if (auto address = parse(cf)) return address;
  }
  // The last field line, its last entry: what the nearest proxy appended.
  std::string_view last_line;
  for (const auto& f : fields) {
    if (iequals(f.name_string(), "X-Forwarded-For")) last_line = f.value();
  }
  const auto comma = last_line.rfind(',');
  const auto last = comma == std::string_view::npos ? last_line : last_line.substr(comma + 1);
  if (trim(last).empty()) return std::nullopt;
  return parse(last);
}

void prepare_downstream_response(beast_http::response_header<>& res) {
  strip_hop_by_hop(res);
}

bool has_dot_segments(std::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  std::size_t start = 0;
  while (true) {
    const auto end = std::min(path.find('/', start), path.size());
    // Decode %2e / %2E so "/%2e%2e/" is seen for what an upstream will make of it.
    std::string segment;
    for (auto i = start; i < end; ++i) {
      if (path[i] == '%' && i + 2 < end && path[i + 1] == '2' && (path[i + 2] == 'e' || path[i + 2] == 'E')) {
        segment += '.';
        i += 2;
      } else {
        segment += path[i];
      }
    }
    if (segment == "." || segment == "..") return true;
    if (end == path.size()) return false;
    start = end + 1;
  }
}

}  // namespace mcpgate::http
