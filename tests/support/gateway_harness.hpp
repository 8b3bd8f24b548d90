// The whole gateway in-process for integration tests: YAML in, listening ports out.
#pragma once

#include <memory>
#include <string>

#include "app/gateway.hpp"

namespace mcpgate::test {

class gateway_harness {
 public:
  // Loads `yaml` (test failure with every diagnostic if it does not load) and starts the
  // gateway on its listeners (use port 0 in the YAML).
  explicit gateway_harness(const std::string& yaml);
  // An already loaded (and possibly adjusted) config.
  explicit gateway_harness(std::shared_ptr<const config::config> cfg);
  ~gateway_harness();

  std::uint16_t port(std::size_t listener = 0) const;
  app::gateway& gateway() { return *gateway_; }
  // Reload with new YAML; returns the gateway's answer (error text in `error`).
  bool reload(const std::string& yaml, std::string& error);
  void shutdown(std::chrono::milliseconds timeout) { gateway_->shutdown(timeout); }
  // What `rule` ("routes.*.allow", "listeners[0].max_connections") refused so far (zeros
  // when it never did).
  mcpgate::http::decision_count decisions(const std::string& rule) const;

 private:
  std::unique_ptr<app::gateway> gateway_;
};

// Loads YAML into a config snapshot or throws with all diagnostics.
std::shared_ptr<const config::config> load_config_or_throw(const std::string& yaml);

}  // namespace mcpgate::test
