// mcpgate: one binary, one subcommand per job. Only app/ wires concrete classes together.
#include <CLI/CLI.hpp>

#include <algorithm>

#include <string>
#include <vector>

#include "app/commands.hpp"

namespace {

// Anthropic's mcp-proxy takes Go-style single-dash long flags (-config, -tunnel-domain);
// CLI11 reads "-config" as six short flags, so rewrite them to the double-dash form.
std::vector<std::string> normalise_go_flags(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    for (const char* flag : {"-config", "-tunnel-domain"}) {
      const std::string f(flag);
      if (arg == f || arg.rfind(f + "=", 0) == 0) {
        arg = "-" + arg;
        break;
      }
    }
    args.push_back(std::move(arg));
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mcpgate::app;
  CLI::App app{"mcpgate: gateway and self-hosted tunnel for MCP servers"};
  app.require_subcommand(1);

  gateway_options gateway;
  auto* gw = app.add_subcommand("gateway", "Run the gateway (drop-in for Anthropic's mcp-proxy)");
  gw->add_option("-c,--config", gateway.config_path, "Config file")->capture_default_str();
  gw->add_option("--tunnel-domain", gateway.tunnel_domain, "Overrides the tunnel_domain key");

  validate_options validate;
  auto* val = app.add_subcommand("validate", "Check a config file; print every error, or a normalised summary");
  val->add_option("config", validate.config_path, "Config file")->required();
  val->add_option("--tunnel-domain", validate.tunnel_domain, "Overrides the tunnel_domain key");
  val->add_flag("-q,--quiet", validate.quiet, "Print errors only");

  hello_options hello;
  auto* hel = app.add_subcommand("hello", "Run the built-in sample MCP server (Streamable HTTP, endpoint /mcp)");
  hel->add_option("-l,--listen", hello.listen, "host:port to listen on (port 0 = any free port)")->capture_default_str();
  hel->add_option("--slow-steps", hello.slow_default_steps, "Default progress steps of the `slow` tool")->capture_default_str();

  certs_options certs;
  auto* crt = add_certs_command(app, certs);
  doctor_options doctor;
  auto* doc = add_doctor_command(app, doctor);
  init_options init;
  auto* ini = add_init_command(app, init);
  allowlist_options allowlist;
  auto* alw = add_allowlist_command(app, allowlist);
  edge_options edge;
  auto* edg = add_edge_command(app, edge);
  connect_options connect;
  auto* con = add_connect_command(app, connect);
  tunnel_options tunnel;
  auto* tnl = add_tunnel_command(app, tunnel);
  api_key_options api_key;
  auto* key = add_api_key_command(app, api_key);

  auto args = normalise_go_flags(argc, argv);
  std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    // allowlist's 0 means "answered" whatever the answer, and tunnel keeps 1 for a failed
    // operation, so for both a bad argument must be 2.
    return code != 0 && (alw->parsed() || tnl->parsed()) ? 2 : code;
  }

  if (*gw) return run_gateway(gateway);
  if (*val) return run_validate(validate);
  if (*hel) return run_hello(hello);
  if (*crt) return run_certs(certs);
  if (*doc) return run_doctor(doctor);
  if (*ini) return run_init(init);
  if (*alw) return run_allowlist(allowlist);
  if (*edg) return run_edge(edge);
  if (*con) return run_connect(connect);
  if (*tnl) return run_tunnel(tunnel);
  if (*key) return run_api_key(api_key);
  return 2;
}
