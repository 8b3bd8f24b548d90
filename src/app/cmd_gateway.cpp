// Placeholder until the gateway subcommand lands.
#include <cstdio>

#include "app/commands.hpp"

namespace mcpgate::app {
int run_gateway(const gateway_options&) {
  std::fputs("mcpgate gateway: not built yet\n", stderr);
  return 1;
}
}  // namespace mcpgate::app
