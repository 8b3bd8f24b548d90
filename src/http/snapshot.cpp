#include "http/snapshot.hpp"

#include <algorithm>

#include "net/tls_context.hpp"

namespace mcpgate::http {

runtime_snapshot::runtime_snapshot(std::shared_ptr<const config::config> config, std::uint64_t gen)
    : cfg(std::move(config)), routes(*cfg), trusted_proxies(cfg->trusted_proxies), generation(gen) {
  if (!cfg->upstream.disable_ip_validation) allowed_upstreams.emplace(cfg->upstream.allowed_ips);
  const bool any_https =
      std::any_of(cfg->routes.begin(), cfg->routes.end(), [](const config::route& r) { return r.upstream.tls(); });
  if (any_https) upstream_tls = net::make_upstream_tls_context(cfg->upstream);
}

}  // namespace mcpgate::http
