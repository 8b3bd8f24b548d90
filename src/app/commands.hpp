// The subcommands of the mcpgate binary. main.cpp parses the command line (CLI11) into
// these option structs; each run_* function is the whole subcommand and returns the exit code.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tunnel/connector.hpp"

namespace CLI {
class App;
}

namespace mcpgate::app {

struct gateway_options {
  std::string config_path = "/etc/mcp-gateway/config.yaml";  // mcp-proxy's default
  std::optional<std::string> tunnel_domain;                   // -tunnel-domain overrides the key
};
int run_gateway(const gateway_options& options);

struct validate_options {
  std::string config_path;
  std::optional<std::string> tunnel_domain;
  bool quiet = false;  // errors only, no summary
};
int run_validate(const validate_options& options);

struct hello_options {
  std::string listen = "127.0.0.1:3000";  // host:port; port 0 picks a free one
  unsigned slow_default_steps = 5;
};
int run_hello(const hello_options& options);

// `certs`, `init` and `doctor` declare their own CLI11 options (add_*_command), since each
// has several subcommands or many flags; main.cpp only dispatches.
struct certs_options {
  enum class action { none, ca, server, renew, inspect };
  action what = action::none;
  std::string out_dir;
  std::string ca_dir;
  std::string domain;
  std::string key_type;  // "" = the subcommand's default
  int days = 0;          // 0 = the subcommand's default
  std::string common_name = "mcp-tunnel-ca";
  bool force = false;
  struct key_mode_flags {
    bool group_readable = false;
    bool world_readable = false;
  } keys;
  std::string renew_before = "0";
  std::vector<std::string> files;  // inspect
  std::string ca_file;             // inspect --ca
  bool json = false;
};
CLI::App* add_certs_command(CLI::App& app, certs_options& options);
int run_certs(const certs_options& options);

struct doctor_options {
  std::string config_path = "/etc/mcp-gateway/config.yaml";
  std::optional<std::string> tunnel_domain;
  std::string edge;      // HOST:PORT to reach, "" = not checked
  std::string as_user;   // "UID[:GID]": can this user read the key (the container's 65532)
  std::string data_dir;  // where the config's /data/... files are on this host
  std::string ca_file;   // default: ca.crt beside tls.cert_file
  int timeout_ms = 3000;
  bool offline = false;  // no DNS, connects or binds (init runs doctor this way)
};
CLI::App* add_doctor_command(CLI::App& app, doctor_options& options);
int run_doctor(const doctor_options& options);

struct init_options {
  std::string dir = "mcp-tunnel";
  std::string tunnel_domain;
  std::vector<std::string> routes;  // name=scheme://host:port
  std::string token_file;
  bool token_stdin = false;
  std::string token_on_argv;  // --token, refused: argv is visible to every local user
  std::string layout = "compose";
  std::string image = "mcpgate:latest";
  std::string key_type;  // "" = rsa-4096
  bool force_config = false;
};
CLI::App* add_init_command(CLI::App& app, init_options& options);
int run_init(const init_options& options);

struct allowlist_options {
  enum class action { none, check, render };
  action what = action::none;
  std::string config_path = "/etc/mcp-gateway/config.yaml";
  std::string at;  // "" = now
  std::string address;  // check
  bool json = false;    // check
  std::string format;   // render: ufw, nftables, iptables, ip6tables, caddy
  std::vector<std::string> sets;
  int port = 443;
  bool revert = false;
};
CLI::App* add_allowlist_command(CLI::App& app, allowlist_options& options);
int run_allowlist(const allowlist_options& options);

struct edge_options {
  std::string config_path = "/etc/mcpgate/edge.yaml";
};
CLI::App* add_edge_command(CLI::App& app, edge_options& options);
int run_edge(const edge_options& options);

struct connect_options {
  tunnel::connector_settings settings;
  unsigned shutdown_seconds = 30;
  std::string log_level = "info";
  std::string log_format = "text";
  connect_options() { settings.to = "ws://127.0.0.1:8080"; }
};
CLI::App* add_connect_command(CLI::App& app, connect_options& options);
int run_connect(const connect_options& options);
struct tunnel_options {
  enum class action { none, create, list, show, rotate_token, archive };
  action what = action::none;
  // Where the registry is and what domain new tunnels get: from the edge's config (-c), or
  // --registry and --base-domain, which win over it.
  std::string edge_config;
  std::string registry_path;
  std::string base_domain;
  std::string id;      // show, rotate-token, archive
  std::string name;    // create
  std::string domain;  // create --domain: a custom domain instead of <id>.<base domain>
  bool all = false;    // list: archived tunnels too
  bool json = false;   // list, show
  bool yes = false;    // archive: confirms a permanent change
};
CLI::App* add_tunnel_command(CLI::App& app, tunnel_options& options);
int run_tunnel(const tunnel_options& options);

struct api_key_options {
  enum class action { none, create, hash };
  action what = action::none;
  std::string name;
  std::vector<std::string> routes;
  std::vector<std::string> tools;
};
CLI::App* add_api_key_command(CLI::App& app, api_key_options& options);
int run_api_key(const api_key_options& options);

}  // namespace mcpgate::app
