#include "http/connection_limits.hpp"

namespace mcpgate::http {

listener_connections::listener_connections(policy_state& policy, std::string where)
    : where_(std::move(where)),
      full_(policy.counter(where_ + ".max_connections")),
      per_client_full_(policy.counter(where_ + ".max_connections_per_client")) {}

bool listener_connections::try_open(std::uint32_t limit) {
  if (limit == 0) {
    ++open_;
    return true;
  }
  if (open_.fetch_add(1) < limit) return true;
  --open_;
  ++full_->refused;
  return false;
}

void listener_connections::close() { --open_; }

bool listener_connections::try_open_for(const net::ip_bytes& network, std::uint32_t limit) {
  std::lock_guard lock(mutex_);
  auto& count = per_client_[network];
  if (limit != 0 && count >= limit) {
    ++per_client_full_->refused;
    return false;
  }
  ++count;
  return true;
}

void listener_connections::close_for(const net::ip_bytes& network) {
  std::lock_guard lock(mutex_);
  const auto it = per_client_.find(network);
  if (it == per_client_.end()) return;
  if (--it->second == 0) per_client_.erase(it);
}

}  // namespace mcpgate::http
