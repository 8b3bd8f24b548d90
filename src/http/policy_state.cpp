#include "http/policy_state.hpp"

#include <fmt/format.h>

#include "auth/key_source.hpp"
#include "http/rate_limiter.hpp"
#include "http/upstream_set.hpp"
#include "mcp/session_affinity.hpp"

namespace mcpgate::http {

std::shared_ptr<decision_counter> policy_state::counter(const std::string& rule) {
  std::lock_guard lock(mutex_);
  auto& slot = counters_[rule];
  if (!slot) slot = std::make_shared<decision_counter>();
  return slot;
}

std::shared_ptr<rate_limiter> policy_state::limiter(const config::rate_limit& spec) {
  std::string identity = fmt::format("{} {}/{} burst {} v4/{} v6/{} max {}", spec.where, spec.requests,
                                     spec.per.count(), spec.burst, spec.ipv4_prefix, spec.ipv6_prefix, spec.max_keys);
  for (const auto part : spec.key) identity += fmt::format(" {}", config::to_string(part));
  std::lock_guard lock(mutex_);
  std::erase_if(limiters_, [](const auto& entry) { return entry.second.expired(); });
  auto& slot = limiters_[identity];
  if (auto existing = slot.lock()) return existing;
  auto made = std::make_shared<rate_limiter>(spec);
  slot = made;
  return made;
}

std::shared_ptr<upstream_set> policy_state::upstreams(const config::route& route) {
  std::string identity = route.name;
  for (const auto& t : route.instances) identity += " " + t.to_string();
  std::lock_guard lock(mutex_);
  std::erase_if(upstream_sets_, [](const auto& entry) { return entry.second.expired(); });
  auto& slot = upstream_sets_[identity];
  if (auto existing = slot.lock()) return existing;
  auto made = std::make_shared<upstream_set>(route.instances.size());
  slot = made;
  return made;
}

running_key_source::~running_key_source() {
  if (source) source->stop();
}

void policy_state::set_control_executor(boost::asio::any_io_executor executor) {
  std::lock_guard lock(mutex_);
  control_ = std::move(executor);
}

std::shared_ptr<running_key_source> policy_state::key_source(const config::oauth_settings& oauth) {
  std::lock_guard lock(mutex_);
  if (!control_ || key_sources_stopped_) return nullptr;
  std::erase_if(key_sources_, [](const auto& entry) { return entry.second.expired(); });
  auto& slot = key_sources_[oauth.key_source_identity()];
  if (auto existing = slot.lock()) return existing;
  auth::key_source_settings settings;
  settings.issuer = oauth.issuer;
  settings.jwks_uri = oauth.jwks_uri;
  settings.fetch.allowed_ips = oauth.allowed_ips;
  settings.fetch.ca_file = oauth.ca_file;
  settings.refresh_interval = std::chrono::duration_cast<std::chrono::seconds>(oauth.refresh_interval);
  auto made = std::make_shared<running_key_source>();
  made->source = std::make_shared<auth::key_source>(*control_, std::move(settings));
  made->source->start();
  slot = made;
  return made;
}

void policy_state::stop_key_sources() {
  std::lock_guard lock(mutex_);
  key_sources_stopped_ = true;
  for (const auto& [identity, weak] : key_sources_) {
    if (auto running = weak.lock(); running && running->source) running->source->stop();
  }
}

const std::string& policy_state::process_affinity_key() {
  std::lock_guard lock(mutex_);
  if (affinity_key_.empty()) affinity_key_ = mcp::random_affinity_key();
  return affinity_key_;
}

std::vector<decision_count> policy_state::decision_counts() const {
  std::lock_guard lock(mutex_);
  std::vector<decision_count> out;
  for (const auto& [rule, c] : counters_) out.push_back({rule, c->refused.load(), c->dry_run.load()});
  return out;
}

}  // namespace mcpgate::http
