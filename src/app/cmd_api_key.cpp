// `mcpgate api-key create|hash`: make an API key and the config entry that accepts it.
// The key goes to stdout alone (so `> key.txt` or a secret store captures exactly it); the
// entry for `api_keys:` goes to stderr: the gateway's config only ever holds the hash.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "app/commands.hpp"
#include "auth/api_key.hpp"

namespace mcpgate::app {

namespace {

std::string yaml_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + ("\"" + items[i] + "\"");
  return out + "]";
}

}  // namespace

CLI::App* add_api_key_command(CLI::App& app, api_key_options& options) {
  auto* cmd = app.add_subcommand("api-key", "Make API keys for routes with auth: { api_keys: true }");
  cmd->require_subcommand(1);
  auto* create = cmd->add_subcommand("create", "Print a new key (stdout) and its api_keys entry (stderr)");
  create->add_option("--name", options.name, "Name of the key (logs, audit, policy conditions)")->required();
  create->add_option("--routes", options.routes, "Routes it may use (default: every route that takes API keys)")
      ->delimiter(',');
  create->add_option("--tools", options.tools, "Tools it may call and see, globs (default: all)")->delimiter(',');
  create->callback([&options] { options.what = api_key_options::action::create; });
  auto* hash = cmd->add_subcommand("hash", "Read a key on stdin, print its sha256 for api_keys");
  hash->callback([&options] { options.what = api_key_options::action::hash; });
  return cmd;
}

int run_api_key(const api_key_options& options) {
  if (options.what == api_key_options::action::hash) {
    std::string key;
    std::getline(std::cin, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
    if (key.empty()) {
      std::cerr << "mcpgate api-key hash: no key on stdin\n";
      return 2;
    }
    std::cout << auth::to_hex(auth::sha256_of(key)) << "\n";
    return 0;
  }
  if (!auth::valid_api_key_name(options.name)) {
    std::cerr << "mcpgate api-key create: invalid --name \"" << options.name
              << "\" (1-64 letters, digits, '.', '_', '@' or '-')\n";
    return 2;
  }
  const auto key = auth::make_api_key();
  std::cout << key << "\n";
  std::cerr << "# The key above is shown only now. Add this to api_keys: in the gateway config:\n"
            << "  - { name: \"" << options.name << "\", sha256: " << auth::to_hex(auth::sha256_of(key));
  if (!options.routes.empty()) std::cerr << ", routes: " << yaml_list(options.routes);
  if (!options.tools.empty()) std::cerr << ", tools: " << yaml_list(options.tools);
  std::cerr << " }\n";
  return 0;
}

}  // namespace mcpgate::app
