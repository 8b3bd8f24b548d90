#include "http/snapshot.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <stdexcept>

#include "auth/introspection.hpp"
#include "http/upstream_set.hpp"

#include "net/tls_context.hpp"

namespace mcpgate::http {

namespace {

// The secret of session_affinity.key_file: its bytes without trailing white space.
std::string read_affinity_key(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("session_affinity.key_file " + path + " cannot be read");
  std::string key(4096, '\0');
  in.read(key.data(), static_cast<std::streamsize>(key.size()));
  key.resize(static_cast<std::size_t>(in.gcount()));
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  if (key.size() < 32) {
    throw std::runtime_error("session_affinity.key_file " + path + " holds " + std::to_string(key.size()) +
                             " bytes; at least 32 are needed (e.g. openssl rand -hex 32 > " + path + ")");
  }
  return key;
}

}  // namespace

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
    route_upstreams.push_back(r.instances.empty() ? nullptr : policy->upstreams(r));
    // A route that introspects every token has no keys to fetch.
    const auto& oauth = r.auth.oauth;
    route_key_sources.push_back(oauth && !oauth->introspects_every_token() ? policy->key_source(*oauth) : nullptr);
    route_introspectors.push_back(oauth && oauth->introspection ? std::make_shared<const auth::introspector>(*oauth)
                                                                : nullptr);
    parse_header_limit = std::max(parse_header_limit, header_limit_of(r));
    parse_body_limit = std::max(parse_body_limit, body_limit_of(r));
  }
  next_access_change = http::next_access_change(*cfg, sets, now);
  if (std::any_of(route_upstreams.begin(), route_upstreams.end(), [](const auto& set) { return set != nullptr; })) {
    affinity_key = cfg->session_affinity.key_file.empty() ? policy->process_affinity_key()
                                                           : read_affinity_key(cfg->session_affinity.key_file);
  }
  if (!cfg->upstream.disable_ip_validation) allowed_upstreams.emplace(cfg->upstream.allowed_ips);
  const bool any_https =
      std::any_of(cfg->routes.begin(), cfg->routes.end(), [](const config::route& r) { return r.any_tls(); });
  if (any_https) upstream_tls = net::make_upstream_tls_context(cfg->upstream);
}

}  // namespace mcpgate::http
