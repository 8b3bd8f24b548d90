// Placeholder until the hello subcommand lands.
#include <cstdio>

#include "app/commands.hpp"

namespace mcpgate::app {
int run_hello(const hello_options&) {
  std::fputs("mcpgate hello: not built yet\n", stderr);
  return 1;
}
}  // namespace mcpgate::app
