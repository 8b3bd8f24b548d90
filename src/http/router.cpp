#include "http/router.hpp"

#include <algorithm>
#include <cctype>

namespace mcpgate::http {

router::router(const config::config& cfg) {
  if (!cfg.tunnel_domain.empty()) tunnel_suffix_ = "." + cfg.tunnel_domain;
  for (const auto& r : cfg.routes) by_host_[r.host_key].push_back(&r);
  for (auto& [key, routes] : by_host_) {
    std::stable_sort(routes.begin(), routes.end(),
                     [](const config::route* a, const config::route* b) { return a->path.size() > b->path.size(); });
  }
}

std::string router::normalise_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    host = close == std::string_view::npos ? host.substr(1) : host.substr(1, close - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos &&
                                                 host.find(':') == colon) {
    host = host.substr(0, colon);  // one colon: "name:port"; more: a bare IPv6 literal
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "example.com." is the same host
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool router::path_matches(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return true;
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/' || prefix.back() == '/';
}

const config::route* router::match(std::string_view host, std::string_view target) const {
  const auto path = target.substr(0, target.find('?'));
  const auto name = normalise_host(host);

  auto routes = by_host_.find(name);
  if (routes == by_host_.end() && !tunnel_suffix_.empty() && name.size() > tunnel_suffix_.size() &&
      name.ends_with(tunnel_suffix_)) {
    routes = by_host_.find(name.substr(0, name.size() - tunnel_suffix_.size()));
  }
  if (routes == by_host_.end()) routes = by_host_.find("*");
  if (routes == by_host_.end()) return nullptr;

  for (const auto* r : routes->second) {
    if (path_matches(r->path, path)) return r;
  }
  return nullptr;
}

}  // namespace mcpgate::http
