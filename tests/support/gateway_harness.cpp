#include "support/gateway_harness.hpp"

#include <stdexcept>

#include "config/loader.hpp"
#include "observability/logging.hpp"

namespace mcpgate::test {

std::shared_ptr<const config::config> load_config_or_throw(const std::string& yaml) {
  auto loaded = config::load_string(yaml, "test.yaml");
  if (!loaded.ok()) {
    std::string all;
    for (const auto& d : loaded.diagnostics) all += d.to_string() + "\n";
    throw std::runtime_error("test config does not load:\n" + all);
  }
  return loaded.snapshot;
}

gateway_harness::gateway_harness(const std::string& yaml) : gateway_harness(load_config_or_throw(yaml)) {}

gateway_harness::gateway_harness(std::shared_ptr<const config::config> cfg) {
  observability::init_logging(cfg->level);
  gateway_ = std::make_unique<app::gateway>(cfg);
  gateway_->start();
}

gateway_harness::~gateway_harness() { gateway_->shutdown(std::chrono::milliseconds(0)); }

std::uint16_t gateway_harness::port(std::size_t listener) const {
  return gateway_->listeners().at(listener).endpoint.port();
}

bool gateway_harness::reload(const std::string& yaml, std::string& error) {
  return gateway_->reload(load_config_or_throw(yaml), error);
}

mcpgate::http::decision_count gateway_harness::decisions(const std::string& rule) const {
  for (auto& c : gateway_->decision_counts()) {
    if (c.rule == rule) return c;
  }
  return {rule, 0, 0};
}

}  // namespace mcpgate::test
