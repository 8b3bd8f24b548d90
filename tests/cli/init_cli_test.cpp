// `mcpgate init` run as a user runs it, without a terminal: every file, its mode and
// content, the token only ever in .env, idempotent re-runs, and a config `validate` accepts.
#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "cli/cli_support.hpp"
#include "config/loader.hpp"
#include "pki/inspect.hpp"
#include "support/test_pki.hpp"

namespace mcpgate::cli_test {
namespace {

namespace fs = std::filesystem;

const std::string domain = "abcd1234.tunnel.example.test";
const std::string token = "eyJhIjoiMTIzNDUiLCJ0IjoiZmFrZSJ9";

std::vector<std::string> seq(const YAML::Node& node) {
  std::vector<std::string> out;
  for (const auto& item : node) out.push_back(item.as<std::string>());
  return out;
}

// The hardening every Compose service carries (Anthropic's "Deploy with Docker Compose").
void expect_hardened(const YAML::Node& service, const std::string& name) {
  SCOPED_TRACE(name);
  EXPECT_EQ(service["user"].as<std::string>(), "65532:65532");
  EXPECT_TRUE(service["read_only"].as<bool>());
  EXPECT_EQ(seq(service["cap_drop"]), std::vector<std::string>{"ALL"});
  EXPECT_EQ(seq(service["security_opt"]), std::vector<std::string>{"no-new-privileges:true"});
  EXPECT_EQ(service["restart"].as<std::string>(), "unless-stopped");
  EXPECT_EQ(service["logging"]["options"]["max-size"].as<std::string>(), "10m");
  EXPECT_EQ(service["logging"]["options"]["max-file"].as<std::string>(), "3");
}

run_result init_compose(const temp_dir& dir, const std::string& stdin_token = token) {
  return run_mcpgate({"init", dir / "mcp-tunnel", "--tunnel-domain", domain, "--token-stdin", "--key-type", "ecdsa-p256"},
                     stdin_token + "\n");
}

TEST(InitCli, ComposeLayoutFromFlagsAndStdin) {
  temp_dir dir;
  const std::string root = dir / "mcp-tunnel";
  const auto r = init_compose(dir);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");

  // Every file reported, with the mode its contents call for.
  const std::vector<std::pair<std::string, unsigned>> files{
      {"data/ca.key", 0600},  {"data/ca.crt", 0644},          {"data/tls.key", 0644},
      {"data/tls.crt", 0644}, {"config/mcp-proxy.yaml", 0644}, {".env", 0600},
      {".gitignore", 0644},   {"docker-compose.yaml", 0644},  {"README.txt", 0644}};
  for (const auto& [file, mode] : files) {
    EXPECT_TRUE(has_line(r.out, "created        " + root + "/" + file)) << file << "\n" << r.out;
    EXPECT_EQ(file_mode(root + "/" + file), mode) << file;
  }
  EXPECT_FALSE(fs::exists(root + "/systemd"));

  // The token is in .env and nowhere else: not in any other file, not in the output.
  EXPECT_EQ(read_text(root + "/.env"),
            "# Secrets of this deployment, read by docker compose and by systemd (EnvironmentFile=).\n"
            "# Mode 0600, ignored by git. Never commit it.\n"
            "TUNNEL_DOMAIN=" + domain + "\n"
            "# The tunnel token: Console > Manage > MCP tunnels > your tunnel > Show token.\n"
            "TUNNEL_TOKEN=" + token + "\n");
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().filename() != ".env") {
      EXPECT_EQ(read_text(entry.path().string()).find(token), std::string::npos) << entry.path();
    }
  }
  EXPECT_EQ(r.out.find(token), std::string::npos);
  EXPECT_EQ(read_text(root + "/.gitignore").find(".env\ndata/\n") != std::string::npos, true);

  // The config: Anthropic's keys, loadable, and `mcpgate validate` agrees.
  const auto loaded = config::load_file(root + "/config/mcp-proxy.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& cfg = *loaded.snapshot;
  EXPECT_EQ(cfg.listen_addr, ":8080");
  EXPECT_EQ(cfg.tunnel_domain, domain);
  EXPECT_EQ(cfg.tls.cert_file, "/data/tls.crt");
  EXPECT_EQ(cfg.tls.key_file, "/data/tls.key");
  EXPECT_EQ(cfg.shutdown_timeout, std::chrono::seconds(30));
  ASSERT_EQ(cfg.routes.size(), 1u);
  EXPECT_EQ(cfg.routes[0].name, "hello");
  EXPECT_EQ(cfg.routes[0].upstream.to_string(), "http://hello:3000");
  EXPECT_FALSE(cfg.upstream.allowed_ips_set) << "a Compose service resolves inside RFC 1918: the default fits";
  const auto validate = run_mcpgate({"validate", root + "/config/mcp-proxy.yaml"});
  EXPECT_EQ(validate.exit_code, 0) << validate.err;
  EXPECT_EQ(validate.err, "");

  // The compose file, parsed.
  const YAML::Node compose = YAML::LoadFile(root + "/docker-compose.yaml");
  const YAML::Node proxy = compose["services"]["mcp-proxy"];
  ASSERT_TRUE(proxy.IsMap());
  EXPECT_EQ(proxy["image"].as<std::string>(), "mcpgate:latest");
  EXPECT_EQ(seq(proxy["command"]), (std::vector<std::string>{"gateway", "-config", "/etc/mcp-gateway/config.yaml"}));
  EXPECT_EQ(seq(proxy["volumes"]), (std::vector<std::string>{"./config/mcp-proxy.yaml:/etc/mcp-gateway/config.yaml:ro",
                                                             "./data:/data:ro"}));
  EXPECT_EQ(proxy["stop_grace_period"].as<std::string>(), "30s");
  expect_hardened(proxy, "mcp-proxy");
  const YAML::Node cloudflared = compose["services"]["cloudflared"];
  ASSERT_TRUE(cloudflared.IsMap());
  EXPECT_EQ(cloudflared["command"].as<std::string>(), "tunnel --no-autoupdate run --url http://localhost:8080");
  EXPECT_EQ(seq(cloudflared["environment"]), std::vector<std::string>{"TUNNEL_TOKEN"});
  EXPECT_EQ(cloudflared["network_mode"].as<std::string>(), "service:mcp-proxy");
  EXPECT_EQ(cloudflared["image"].as<std::string>().rfind("cloudflare/cloudflared@sha256:", 0), 0u);
  EXPECT_EQ(cloudflared["stop_grace_period"].as<std::string>(), "30s");
  expect_hardened(cloudflared, "cloudflared");
  const YAML::Node hello = compose["services"]["hello"];
  ASSERT_TRUE(hello.IsMap());
  EXPECT_EQ(seq(hello["command"]), (std::vector<std::string>{"hello", "--listen", "0.0.0.0:3000"}));
  expect_hardened(hello, "hello");

  // The certificates meet the tunnel's requirements for this domain.
  pki::inspect_options options;
  options.domain = domain;
  options.hostnames = {"hello." + domain};
  const auto checks = pki::inspect_server(read_text(root + "/data/tls.crt"), read_text(root + "/data/ca.crt"), options);
  EXPECT_FALSE(pki::any_fail(checks)) << pki::format_checks(checks);
  EXPECT_FALSE(pki::any_fail(pki::inspect_ca(read_text(root + "/data/ca.crt"))));

  // The offline doctor ran (the key as the container's uid 65532 reads it), then the steps.
  EXPECT_EQ(lines_starting(r.out, "PASS tls key readable by uid 65532: " + root + "/data/tls.key is 0644 owner ").size(), 1u)
      << r.out;
  EXPECT_EQ(lines_starting(r.out, "FAIL").size(), 0u) << r.out;
  EXPECT_EQ(lines_starting(r.out, "doctor: ").size(), 1u);
  EXPECT_NE(r.out.find("upload data/ca.crt"), std::string::npos);
  EXPECT_NE(r.out.find("Manage > MCP tunnels"), std::string::npos);
  EXPECT_NE(r.out.find("anthropic-beta: mcp-client-2025-11-20"), std::string::npos);
  EXPECT_NE(r.out.find("{\"type\":\"url\",\"url\":\"https://hello." + domain + "/mcp\",\"name\":\"hello\"}"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("{\"type\":\"mcp_toolset\",\"mcp_server_name\":\"hello\"}"), std::string::npos);
}

TEST(InitCli, RerunKeepsKeysCaAndEnvByteForByte) {
  temp_dir dir;
  const std::string root = dir / "mcp-tunnel";
  ASSERT_EQ(init_compose(dir).exit_code, 0);
  const std::vector<std::string> precious{"data/ca.key", "data/ca.crt", "data/tls.key", "data/tls.crt", ".env"};
  std::map<std::string, std::string> before;
  for (const auto& f : precious) before[f] = read_text(root + "/" + f);
  const std::string config_before = read_text(root + "/config/mcp-proxy.yaml");

  // Again, without a token and with other choices: nothing is replaced.
  const auto again = run_mcpgate({"init", root, "--tunnel-domain", domain, "--key-type", "rsa-2048"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  for (const auto& f : precious) {
    EXPECT_TRUE(has_line(again.out, "exists (kept)  " + root + "/" + f)) << f << "\n" << again.out;
    EXPECT_EQ(read_text(root + "/" + f), before[f]) << f;
  }
  EXPECT_TRUE(has_line(again.out, "exists (kept)  " + root + "/docker-compose.yaml"));
  EXPECT_TRUE(lines_starting(again.out, "created").empty()) << again.out;

  // A different token is not written over .env, and init says so.
  const auto other = init_compose(dir, "eyJvdGhlciI6InRva2VuIn0");
  ASSERT_EQ(other.exit_code, 0);
  EXPECT_EQ(read_text(root + "/.env"), before[".env"]);
  EXPECT_TRUE(has_line(other.out, "note: .env exists, so the token given was not written: edit TUNNEL_TOKEN in .env yourself"));
  // The same token again: nothing to say.
  EXPECT_FALSE(has_line(init_compose(dir).out, "note: .env exists, so the token given was not written: edit TUNNEL_TOKEN in .env yourself"));

  // --force-config rewrites config and Compose, never keys or .env.
  std::ofstream(root + "/config/mcp-proxy.yaml") << "# edited\n";
  const auto forced = run_mcpgate({"init", root, "--tunnel-domain", domain, "--force-config", "--image", "registry.example/mcpgate@sha256:abc"});
  ASSERT_EQ(forced.exit_code, 0) << forced.out;
  EXPECT_TRUE(has_line(forced.out, "rewritten      " + root + "/config/mcp-proxy.yaml"));
  EXPECT_TRUE(has_line(forced.out, "rewritten      " + root + "/docker-compose.yaml"));
  EXPECT_EQ(read_text(root + "/config/mcp-proxy.yaml"), config_before);
  EXPECT_EQ(YAML::LoadFile(root + "/docker-compose.yaml")["services"]["mcp-proxy"]["image"].as<std::string>(),
            "registry.example/mcpgate@sha256:abc");
  for (const auto& f : precious) EXPECT_EQ(read_text(root + "/" + f), before[f]) << f;
}

TEST(InitCli, SystemdLayoutWithOwnRoutes) {
  temp_dir dir;
  const std::string root = dir / "srv";
  const std::string token_file = test::write_file(dir / "token", "  " + token + "\n");
  const auto r = run_mcpgate({"init", root, "--layout", "systemd", "--tunnel-domain", domain, "--token-file", token_file,
                              "--route", "echo=http://127.0.0.1:9000", "--route", "Docs=https://docs.internal:8443",
                              "--key-type", "ecdsa-p256"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(file_mode(root + "/data/tls.key"), 0600u) << "no container: the key stays private";
  EXPECT_NE(read_text(root + "/.env").find("\nTUNNEL_TOKEN=" + token + "\n"), std::string::npos);
  EXPECT_FALSE(fs::exists(root + "/docker-compose.yaml"));
  EXPECT_FALSE(fs::exists(root + "/systemd/mcpgate-hello.service")) << "own routes: no sample server";

  const std::string unit = read_text(root + "/systemd/mcpgate.service");
  for (const std::string& directive : std::vector<std::string>{
           "User=mcpgate", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict", "ProtectHome=yes",
        "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service", "ReadOnlyPaths=" + root,
        "BindReadOnlyPaths=" + root + "/config/mcp-proxy.yaml:/etc/mcp-gateway/config.yaml",
        "BindReadOnlyPaths=" + root + "/data:/data", "InaccessiblePaths=-/data/ca.key",
        "ExecStart=" + mcpgate_bin() + " gateway -config /etc/mcp-gateway/config.yaml"}) {
    EXPECT_TRUE(has_line(unit, directive)) << directive << "\n" << unit;
  }
  const std::string cloudflared = read_text(root + "/systemd/cloudflared.service");
  EXPECT_TRUE(has_line(cloudflared, "EnvironmentFile=" + root + "/.env"));
  EXPECT_TRUE(has_line(cloudflared, "DynamicUser=yes"));
  EXPECT_TRUE(has_line(cloudflared, "ExecStart=/usr/local/bin/cloudflared tunnel --no-autoupdate run --url http://localhost:8080"));
  EXPECT_EQ(cloudflared.find(token), std::string::npos);

  // Loopback upstream: allowed_ips written with 127.0.0.0/8 and the RFC 1918 ranges again;
  // an https route gets a trust anchor, so the config loads.
  const auto loaded = config::load_file(root + "/config/mcp-proxy.yaml");
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded.snapshot->routes.size(), 2u);
  EXPECT_EQ(loaded.snapshot->routes[1].name, "docs");
  EXPECT_TRUE(loaded.snapshot->upstream.allowed_ips_set);
  std::vector<std::string> allowed;
  for (const auto& p : loaded.snapshot->upstream.allowed_ips) allowed.push_back(p.to_string());
  EXPECT_EQ(allowed, (std::vector<std::string>{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}));
  EXPECT_TRUE(loaded.snapshot->upstream.include_system_cas);
  EXPECT_EQ(run_mcpgate({"validate", "-q", root + "/config/mcp-proxy.yaml"}).exit_code, 0);
  EXPECT_EQ(lines_starting(r.out, "FAIL").size(), 0u) << r.out;
}

TEST(InitCli, SystemdLayoutDefaultHello) {
  temp_dir dir;
  const std::string root = dir / "srv";
  const auto r = run_mcpgate({"init", root, "--layout", "systemd", "--tunnel-domain", domain, "--key-type", "ecdsa-p256"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(has_line(read_text(root + "/systemd/mcpgate-hello.service"),
                       "ExecStart=" + mcpgate_bin() + " hello --listen 127.0.0.1:3000"));
  const auto loaded = config::load_file(root + "/config/mcp-proxy.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.snapshot->routes[0].upstream.to_string(), "http://127.0.0.1:3000");
  EXPECT_TRUE(loaded.snapshot->upstream.allowed_ips_set);
  // No token given: .env says where to put it.
  EXPECT_NE(read_text(root + "/.env").find("# Not given to `mcpgate init`: paste it after the = sign.\nTUNNEL_TOKEN=\n"),
            std::string::npos);
}

TEST(InitCli, RefusesBadInputBeforeWritingAnything) {
  temp_dir dir;
  const std::string root = dir / "t";
  const auto on_argv = run_mcpgate({"init", root, "--tunnel-domain", domain, "--token", token});
  EXPECT_EQ(on_argv.exit_code, 2);
  EXPECT_EQ(on_argv.err, "mcpgate init: the tunnel token is never taken from the command line (ps and shell history "
                         "would show it): use --token-file FILE or --token-stdin\n");
  EXPECT_EQ(on_argv.out.find(token), std::string::npos);

  const auto no_domain = run_mcpgate({"init", root});
  EXPECT_EQ(no_domain.exit_code, 2);
  EXPECT_EQ(no_domain.err, "mcpgate init: --tunnel-domain is required: the domain the Console shows for the tunnel, "
                           "e.g. abcd1234.tunnel.anthropic.com\n");

  const auto bad_domain = run_mcpgate({"init", root, "--tunnel-domain", "*.example.test"});
  EXPECT_EQ(bad_domain.exit_code, 2);
  EXPECT_EQ(bad_domain.err.rfind("mcpgate init: --tunnel-domain: invalid domain \"*.example.test\": ", 0), 0u) << bad_domain.err;

  const auto bad_route = run_mcpgate({"init", root, "--tunnel-domain", domain, "--route", "echo=http://10.0.0.5:9000/mcp"});
  EXPECT_EQ(bad_route.exit_code, 2);
  EXPECT_EQ(bad_route.err, "mcpgate init: --route \"echo=http://10.0.0.5:9000/mcp\": the upstream must be exactly "
                           "scheme://host:port (port required, no path)\n");

  const auto bad_token = run_mcpgate({"init", root, "--tunnel-domain", domain, "--token-stdin"}, "two words\n");
  EXPECT_EQ(bad_token.exit_code, 2);
  EXPECT_EQ(bad_token.err.find("two"), std::string::npos) << "the token is never echoed";

  const auto missing_file = run_mcpgate({"init", root, "--tunnel-domain", domain, "--token-file", dir / "absent"});
  EXPECT_EQ(missing_file.exit_code, 1);
  EXPECT_EQ(missing_file.err, "mcpgate init: " + (dir / "absent") + ": cannot open: No such file or directory\n");

  EXPECT_FALSE(fs::exists(root)) << "nothing written after a refusal";
}

}  // namespace
}  // namespace mcpgate::cli_test
