#include "http/snapshot.hpp"

#include <algorithm>

#include "net/tls_context.hpp"

namespace mcpgate::http {

runtime_snapshot::runtime_snapshot(std::shared_ptr<const config::config> config, std::uint64_t gen, net::wall_time now,
                                   std::shared_ptr<policy_state> state, std::shared_ptr<stdio::bridge_registry> stdio_bridges)
    : cfg(std::move(config)),
      routes(*cfg),
      trusted_proxies(cfg->trusted_proxies),
      compiled_at(now),
      policy(state ? std::move(state) : std::make_shared<policy_state>()),
      stdio(std::move(stdio_bridges)),
      generation(gen) {
  const auto sets = build_ip_sets(*cfg);
  for (const auto& l : cfg->listeners) listener_access.push_back(compile_access_rule(l.access, sets, now, policy.get()));
  parse_header_limit = cfg->limits.max_request_header_bytes;
  parse_body_limit = cfg->limits.max_request_body_bytes;
  for (const auto& r : cfg->routes) {
    route_access.push_back(compile_access_rule(r.access, sets, now, policy.get()));
    auto& limits = route_rate_limits.emplace_back();
    for (const auto& spec : r.rate_limits) limits.push_back({&spec, policy->limiter(spec), policy->counter(spec.where)});
    parse_header_limit = std::max(parse_header_limit, header_limit_of(r));
    parse_body_limit = std::max(parse_body_limit, body_limit_of(r));
  }
  next_access_change = http::next_access_change(*cfg, sets, now);
  if (!cfg->upstream.disable_ip_validation) allowed_upstreams.emplace(cfg->upstream.allowed_ips);
  const bool any_https =
      std::any_of(cfg->routes.begin(), cfg->routes.end(), [](const config::route& r) { return r.upstream.tls(); });
  if (any_https) upstream_tls = net::make_upstream_tls_context(cfg->upstream);
}

}  // namespace mcpgate::http
