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

  const auto& target = ctx.target ? *ctx.target : route.upstream;
  req.set(beast_http::field::host, route.preserve_host ? ctx.original_host : target.authority());
  req.erase(beast_http::field::forwarded);
  req.set("X-Forwarded-For", ctx.client_ip);
  req.set("X-Forwarded-Proto", ctx.client_tls ? "https" : "http");
  req.set("X-Forwarded-Host", ctx.original_host);
  // A route with auth consumed the client's credential: passing it on would hand a token
  // issued for the gateway to a server it was not issued for (MCP: no token passthrough).
  if (route.auth.enabled() && !route.auth.pass_authorization) req.erase(beast_http::field::authorization);
  if (route.upstream_auth) req.set(route.upstream_auth->header, route.upstream_auth->value);
  if (route.strip_path) req.target(stripped_target(route.path, req.target()));
}

std::string stripped_target(std::string_view prefix, std::string_view target) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);  // "/mcp/" is "/mcp"
  if (prefix.empty() || prefix == "/" || !target.starts_with(prefix)) return std::string(target);
  const auto rest = target.substr(prefix.size());
  if (rest.empty() || rest.front() == '?') return "/" + std::string(rest);
  if (rest.front() != '/') return std::string(target);  // "/everythingelse": not this prefix
  return std::string(rest);
}

namespace {

// One hop as proxies write it: "192.0.2.1", "2001:db8::1", "[2001:db8::1]:443",
// "192.0.2.1:8080" (Forwarded allows ports), optionally quoted. Canonical text or nullopt.
std::optional<std::string> parse_hop(std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
  if (text.size() > 2 && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    text = text.substr(1, close - 1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    text = text.substr(0, text.find(':'));  // IPv4 with a port
  }
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return net::unmapped(address).to_string();
}

// Every comma-separated entry of every field line named `name`, in order.
std::vector<std::string_view> list_entries(const beast_http::fields& fields, std::string_view name) {
  std::vector<std::string_view> out;
  for (const auto& f : fields) {
    if (!iequals(f.name_string(), name)) continue;
    std::string_view value = f.value();
    while (true) {
      const auto comma = value.find(',');
      out.push_back(value.substr(0, comma));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return out;
}

// The for= value of one Forwarded element ("for=192.0.2.60;proto=http"), or "" if none.
std::string_view forwarded_for(std::string_view element) {
  while (!element.empty()) {
    const auto semi = element.find(';');
    const auto pair = trim(element.substr(0, semi));
    if (pair.size() > 4 && iequals(pair.substr(0, 4), "for=")) return pair.substr(4);
    if (semi == std::string_view::npos) break;
    element.remove_prefix(semi + 1);
  }
  return {};
}

}  // namespace

std::optional<std::string> client_behind_proxies(const beast_http::fields& fields, const net::ip_prefix_set& trusted) {
  std::vector<std::string_view> hops = list_entries(fields, "X-Forwarded-For");
  if (hops.empty()) {
    if (auto cf = fields["Cf-Connecting-Ip"]; !cf.empty()) hops.push_back(cf);
  }
  if (hops.empty()) {
    for (auto element : list_entries(fields, "Forwarded")) hops.push_back(forwarded_for(element));
  }
  if (hops.empty()) return std::nullopt;
  std::optional<std::string> client;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    client = parse_hop(*it);
    if (!client) return std::nullopt;
    if (!trusted.contains(boost::asio::ip::make_address(*client))) return client;
  }
  return client;  // every hop trusted: the farthest one
}

std::optional<std::string> forwarded_client_address(const beast_http::fields& fields) {
  if (auto cf = fields["Cf-Connecting-Ip"]; !cf.empty()) {
    if (auto address = parse_hop(cf)) return address;
  }
  // The last entry: what the nearest proxy appended.
  const auto hops = list_entries(fields, "X-Forwarded-For");
  if (hops.empty() || trim(hops.back()).empty()) return std::nullopt;
  return parse_hop(hops.back());
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
