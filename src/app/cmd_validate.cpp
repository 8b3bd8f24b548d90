// `mcpgate validate FILE`: the `nginx -t` of mcpgate. Every diagnostic goes to stderr in
// compiler format (editors and CI annotate the line); on success the normalised summary
// goes to stdout so that a diff of two summaries shows what a config change really changes.
#include <cstdio>
#include <string>

#include "app/commands.hpp"
#include "config/loader.hpp"

namespace mcpgate::app {

int run_validate(const validate_options& options) {
  config::overrides over;
  over.tunnel_domain = options.tunnel_domain;
  const auto result = config::load_file(options.config_path, over);
  for (const auto& d : result.diagnostics) {
    std::fprintf(stderr, "%s\n", d.to_string().c_str());
  }
  const std::size_t errors = result.error_count();
  if (errors != 0 || !result.ok()) {
    std::fprintf(stderr, "%zu error%s\n", errors, errors == 1 ? "" : "s");
    return 1;
  }
  if (!options.quiet) {
    const std::string summary = config::summarize(*result.snapshot);
    std::fwrite(summary.data(), 1, summary.size(), stdout);
  }
  return 0;
}

}  // namespace mcpgate::app
