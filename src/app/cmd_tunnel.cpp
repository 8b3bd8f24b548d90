// `mcpgate tunnel create|list|show|rotate-token|archive`: the edge's tunnel registry,
// administered while the edge runs (it polls the registry and picks the changes up).
//
// A token is printed once, alone on stdout, so `mcpgate tunnel create ... > token` captures
// the token and nothing else; everything meant for the person goes to stderr.
//
// Exit codes: 0 done, 1 the operation failed (unknown id, archived, domain taken), 2 bad
// arguments (also: archive without --yes).
#include <CLI/CLI.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "config/units.hpp"
#include "pki/text.hpp"
#include "config/loader.hpp"
#include "tunnel/registry.hpp"

namespace mcpgate::app {
namespace {

constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

int say(int code, const std::string& message) {
  std::fprintf(stderr, "mcpgate tunnel: %s\n", message.c_str());
  return code;
}

std::string timestamp(std::int64_t unix_seconds) {
  return config::format_timestamp(std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)));
}

const char* state_of(const tunnel::tunnel_record& t) { return t.archived_at ? "archived" : "active"; }

boost::json::object to_json(const tunnel::tunnel_record& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"domain", t.domain},
          {"created_at", timestamp(t.created_at)},
          {"state", state_of(t)},
          {"archived_at", t.archived_at ? boost::json::value(timestamp(*t.archived_at)) : boost::json::value(nullptr)},
          {"token_version", t.token_version},
          {"token_issued_at", timestamp(t.token_rotated_at)}};
}

void print_table(const std::vector<tunnel::tunnel_record>& tunnels) {
  const std::vector<std::string> header{"ID", "NAME", "DOMAIN", "CREATED", "STATE", "TOKEN"};
  std::vector<std::vector<std::string>> rows{header};
  for (const auto& t : tunnels) {
    rows.push_back({t.id, pki::printable(t.name, 40), t.domain, timestamp(t.created_at), state_of(t),
                    "v" + std::to_string(t.token_version)});
  }
  std::vector<std::size_t> width(header.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

void print_record(const tunnel::tunnel_record& t) {
  std::printf("id:            %s\n", t.id.c_str());
  std::printf("name:          %s\n", pki::printable(t.name).c_str());
  std::printf("domain:        %s\n", t.domain.c_str());
  std::printf("created:       %s\n", timestamp(t.created_at).c_str());
  std::printf("state:         %s\n", t.archived_at ? ("archived " + timestamp(*t.archived_at)).c_str() : "active");
  std::printf("token version: %u (issued %s)\n", t.token_version, timestamp(t.token_rotated_at).c_str());
}

// The token alone on stdout, the advice on stderr; flushed in that order so a terminal shows
// them in that order.
void print_token(const std::string& token) {
  std::printf("%s\n", token.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "Save this token now; it is not shown again. Give it to the connector with --token-file.\n");
}

std::string no_tunnel(const tunnel_options& o) {
  return "no tunnel \"" + pki::printable(o.id, 80) + "\" in the registry " + o.registry_path;
}

int create(tunnel::registry& reg, const tunnel_options& o) {
  const auto made = reg.create(o.name, o.base_domain, o.domain);
  std::fprintf(stderr, "Created tunnel %s (%s) for the domain %s.\n", made.tunnel.id.c_str(),
               pki::printable(made.tunnel.name).c_str(), made.tunnel.domain.c_str());
  print_token(made.token);
  return 0;
}

int list(tunnel::registry& reg, const tunnel_options& o) {
  const auto tunnels = reg.list(o.all);
  if (o.json) {
    boost::json::array out;
    for (const auto& t : tunnels) out.push_back(to_json(t));
    std::printf("%s\n", boost::json::serialize(out).c_str());
    return 0;
  }
  print_table(tunnels);
  if (tunnels.empty()) std::fprintf(stderr, "No %stunnels in %s.\n", o.all ? "" : "active ", o.registry_path.c_str());
  return 0;
}

int show(tunnel::registry& reg, const tunnel_options& o) {
  const auto t = reg.find(o.id);
  if (!t) return say(exit_failed, no_tunnel(o));
  if (o.json) {
    std::printf("%s\n", boost::json::serialize(to_json(*t)).c_str());
  } else {
    print_record(*t);
  }
  return 0;
}

int rotate(tunnel::registry& reg, const tunnel_options& o) {
  const auto token = reg.rotate_token(o.id);
  const auto t = reg.find(o.id);
  std::fprintf(stderr, "Tunnel %s (%s): token version %u issued; version %u is refused for new connections from now on.\n",
               t->id.c_str(), t->domain.c_str(), t->token_version, t->token_version - 1);
  print_token(token);
  return 0;
}

int archive(tunnel::registry& reg, const tunnel_options& o) {
  const auto t = reg.find(o.id);
  if (!t) return say(exit_failed, no_tunnel(o));
  if (t->archived_at) {
    return say(exit_failed, "tunnel " + t->id + " is already archived (" + timestamp(*t->archived_at) + ")");
  }
  // stdin may not be a terminal (scripts, CI), so the confirmation is a flag, not a prompt.
  if (!o.yes) {
    return say(exit_usage, "archiving tunnel " + t->id + " (" + t->domain +
                               ") is permanent: its connectors are refused from then on, and the domain is retired "
                               "(no tunnel ever gets it again). To go ahead: mcpgate tunnel archive " + t->id + " --yes");
  }
  const auto archived = reg.archive(o.id);
  std::fprintf(stderr, "Archived tunnel %s; the domain %s is retired.\n", archived.id.c_str(), archived.domain.c_str());
  return 0;
}

}  // namespace

CLI::App* add_tunnel_command(CLI::App& app, tunnel_options& o) {
  auto* tunnel = app.add_subcommand("tunnel", "Create and manage the edge's tunnels and their tokens");
  tunnel->require_subcommand(1);
  // Not ->required(): the edge config (-c) is to fill them too, so run_tunnel checks them.
  tunnel->add_option("-c,--config", o.edge_config, "The edge's config: registry and base_domain from it");
  tunnel->add_option("--registry", o.registry_path, "The edge's tunnel registry (SQLite file; create makes it)");
  tunnel->add_option("--base-domain", o.base_domain, "New tunnels get the domain <id>.NAME");

  auto* create = tunnel->add_subcommand("create", "Add a tunnel; prints its token once");
  create->add_option("--name", o.name, "Display name")->required();
  create->add_option("--domain", o.domain, "A custom domain instead of <id>.<base domain>");
  auto* list = tunnel->add_subcommand("list", "The tunnels: id, name, domain, created, state, token version");
  list->add_flag("--all", o.all, "Include archived tunnels");
  list->add_flag("--json", o.json, "Machine-readable output");
  auto* show = tunnel->add_subcommand("show", "One tunnel");
  show->add_option("id", o.id, "Tunnel id")->required();
  show->add_flag("--json", o.json, "Machine-readable output");
  auto* rotate =
      tunnel->add_subcommand("rotate-token", "Issue a new token; the previous one is refused for new connections");
  rotate->add_option("id", o.id, "Tunnel id")->required();
  auto* archive = tunnel->add_subcommand("archive", "Retire a tunnel for good (its domain is never reused)");
  archive->add_option("id", o.id, "Tunnel id")->required();
  archive->add_flag("--yes", o.yes, "Confirm: archiving cannot be undone");

  using action = tunnel_options::action;
  const std::pair<CLI::App*, action> subs[] = {
      {create, action::create}, {list, action::list}, {show, action::show},
      {rotate, action::rotate_token}, {archive, action::archive}};
  for (const auto& [sub, what] : subs) {
    sub->fallthrough();  // `tunnel list --registry F` as well as `tunnel --registry F list`
    sub->callback([&o, what = what] { o.what = what; });
  }
  return tunnel;
}

int run_tunnel(const tunnel_options& given) {
  using action = tunnel_options::action;
  tunnel_options o = given;
  if (!o.edge_config.empty()) {
    // The edge's own file, so the CLI and the running edge cannot disagree on the registry.
    const auto loaded = config::load_edge_file(o.edge_config);
    if (!loaded.ok()) {
      for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
      return say(exit_usage, "cannot use the edge config " + o.edge_config);
    }
    if (o.registry_path.empty()) o.registry_path = loaded.snapshot->registry;
    if (o.base_domain.empty()) o.base_domain = loaded.snapshot->base_domain;
  }
  if (o.registry_path.empty()) {
    return say(exit_usage, "--registry PATH or -c EDGE_CONFIG is required (the edge's tunnel registry file)");
  }
  if (o.what == action::create && o.base_domain.empty() && o.domain.empty()) {
    return say(exit_usage, "create needs --base-domain NAME (the tunnel gets <id>.NAME) or --domain CUSTOM");
  }
  // Only create makes a registry: a mistyped path elsewhere must not leave an empty one behind.
  std::error_code ec;
  if (o.what != action::create && !std::filesystem::exists(o.registry_path, ec)) {
    return say(exit_failed, "no registry at " + o.registry_path + " (mcpgate tunnel create makes it)");
  }
  try {
    tunnel::registry reg(o.registry_path);
    switch (o.what) {
      case action::create: return create(reg, o);
      case action::list: return list(reg, o);
      case action::show: return show(reg, o);
      case action::rotate_token: return rotate(reg, o);
      case action::archive: return archive(reg, o);
      case action::none: break;
    }
    return exit_usage;
  } catch (const tunnel::registry_input_error& e) {
    return say(exit_usage, e.what());
  } catch (const std::exception& e) {
    return say(exit_failed, e.what());
  }
}

}  // namespace mcpgate::app
