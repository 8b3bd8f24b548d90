// What the access policy keeps across config snapshots: a decision counter per rule and
// the rate limiters' buckets. The gateway owns one policy_state; each runtime_snapshot
// takes the pieces its rules need, so a reload (or the rebuild when an ip_sets window
// opens or closes) keeps the counts, and the buckets of every rate limit left unchanged.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "config/config.hpp"

namespace mcpgate::auth {
class key_source;
}

namespace mcpgate::http {

class rate_limiter;
class upstream_set;

// Requests or connections a rule turned away. Exported by /metrics (observability issue);
// rule names are config paths, so the label set is bounded by the config.
struct decision_counter {
  std::atomic<std::uint64_t> refused{0};  // enforced refusals
  std::atomic<std::uint64_t> dry_run{0};  // refusals a dry-run rule only logged
};

struct decision_count {
  std::string rule;  // "routes.echo.allow", "routes.echo.rate_limit[0]", "listeners[0].max_connections"
  std::uint64_t refused = 0;
  std::uint64_t dry_run = 0;
};

// An issuer's key source, running while a snapshot holds this; the last holder gone stops
// it (its refresh timer would otherwise keep it alive, and fetching, forever).
struct running_key_source {
  std::shared_ptr<auth::key_source> source;
  ~running_key_source();
};

class policy_state {
 public:
  // Where key sources fetch and keep their timers (the gateway's control thread). Unset:
  // oauth routes get no keys (their requests are answered 503), as in one-off tools.
  void set_control_executor(boost::asio::any_io_executor executor);
  // The keys of an oauth route's issuer: one source per distinct key_source_identity(),
  // shared by routes and kept across reloads while the settings stay the same. Null
  // without a control executor.
  std::shared_ptr<running_key_source> key_source(const config::oauth_settings& oauth);
  // Shutdown, while the workers still run: stops every key source (the exchanges waiting
  // for keys are answered 503 and their workers can finish); later snapshots get none.
  void stop_key_sources();
  std::shared_ptr<decision_counter> counter(const std::string& rule);
  // The limiter for `spec`: the same object as long as the rule keeps its place and its
  // parameters (a changed rule starts with full buckets). Limiters no snapshot uses any
  // more are freed with the last snapshot that held them.
  std::shared_ptr<rate_limiter> limiter(const config::rate_limit& spec);
  std::vector<decision_count> decision_counts() const;  // sorted by rule
  // The instances of a route with several upstreams: the same object (busy counts, health)
  // while the route keeps its name and its list of instances.
  std::shared_ptr<upstream_set> upstreams(const config::route& route);
  // The key authenticating affine session ids when no session_affinity.key_file is set:
  // made once per process, so sessions survive reloads (not other replicas).
  const std::string& process_affinity_key();

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<decision_counter>> counters_;
  std::map<std::string, std::weak_ptr<rate_limiter>> limiters_;  // by rule + parameters
  std::map<std::string, std::weak_ptr<upstream_set>> upstream_sets_;  // by route + instances
  std::string affinity_key_;
  std::optional<boost::asio::any_io_executor> control_;
  std::map<std::string, std::weak_ptr<running_key_source>> key_sources_;
  bool key_sources_stopped_ = false;
};

}  // namespace mcpgate::http
