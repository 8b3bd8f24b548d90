// Placeholder until the validate subcommand lands.
#include <cstdio>

#include "app/commands.hpp"

namespace mcpgate::app {
int run_validate(const validate_options&) {
  std::fputs("mcpgate validate: not built yet\n", stderr);
  return 1;
}
}  // namespace mcpgate::app
