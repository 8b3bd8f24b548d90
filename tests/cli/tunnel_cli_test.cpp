// `mcpgate tunnel create|list|show|rotate-token|archive` run as a user runs it: the token
// alone on stdout (and the registry holding its public key), tables and JSON, rotation as
// the edge sees it, archive only with --yes, and exit codes 0 / 1 (failed) / 2 (bad args).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "cli/cli_support.hpp"
#include "tunnel/registry.hpp"

namespace mcpgate::cli_test {
namespace {

const std::vector<std::uint8_t> exporter(32, 0x5a);

struct tunnel_fixture {
  temp_dir dir;
  std::string registry = dir / "registry.db";

  run_result run(std::vector<std::string> args) {
    args.insert(args.begin(), "tunnel");
    args.insert(args.end(), {"--registry", registry});
    return run_mcpgate(args);
  }
  // Creates a tunnel; returns {id, token}.
  std::pair<std::string, std::string> create(const std::string& name, const std::string& custom = {}) {
    std::vector<std::string> args{"create", "--name", name, "--base-domain", "tunnel.example.com"};
    if (!custom.empty()) args.insert(args.end(), {"--domain", custom});
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto token = parse(r.out);
    return {token.tunnel_id, r.out.substr(0, r.out.size() - 1)};
  }
  static tunnel::tunnel_token parse(const std::string& out) {
    std::string error;
    const auto token = tunnel::parse_token(out, &error);
    EXPECT_TRUE(token) << error << " in: " << out;
    return token.value_or(tunnel::tunnel_token{});
  }
  tunnel::auth_verdict present(const std::string& token_text) {
    const auto token = parse(token_text);
    tunnel::registry reg(registry);
    return reg.authenticate(token.tunnel_id, token.version, exporter, tunnel::sign_proof(token, exporter));
  }
  boost::json::array list_json(bool all = false) {
    std::vector<std::string> args{"list", "--json"};
    if (all) args.push_back("--all");
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return boost::json::parse(r.out).as_array();
  }
};

TEST(TunnelCli, CreatePrintsOnlyTheTokenOnStdout) {
  tunnel_fixture f;
  const auto r = f.run({"create", "--name", "My laptop", "--base-domain", "tunnel.example.com"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "one line: " << r.out;
  const auto token = f.parse(r.out);
  EXPECT_EQ(token.version, 1u);
  EXPECT_NE(r.err.find("Save this token now; it is not shown again. Give it to the connector with --token-file."),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(token.tunnel_id + ".tunnel.example.com"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(r.out.substr(0, r.out.size() - 1)), std::string::npos) << "the token is on stderr too";
  EXPECT_EQ(file_mode(f.registry), 0600u);

  // The registry holds the public key of exactly this token.
  EXPECT_EQ(f.present(r.out), tunnel::auth_verdict::ok);
  tunnel::registry reg(f.registry);
  const auto t = reg.find(token.tunnel_id);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name, "My laptop");
  EXPECT_EQ(t->domain, token.tunnel_id + ".tunnel.example.com");
}

TEST(TunnelCli, GlobalOptionsGoBeforeOrAfterTheSubcommand) {
  tunnel_fixture f;
  const auto r =
      run_mcpgate({"tunnel", "--registry", f.registry, "--base-domain", "t.example.com", "create", "--name", "a"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  f.parse(r.out);
}

TEST(TunnelCli, EdgeConfigGivesRegistryAndBaseDomain) {
  tunnel_fixture f;
  const std::string config = f.dir / "edge.yaml";
  std::ofstream(config) << "tls: { cert_file: /e.crt, key_file: /e.key }\nbase_domain: tunnels.example.org\nregistry: "
                        << f.registry << "\n";
  const auto r = run_mcpgate({"tunnel", "-c", config, "create", "--name", "from config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto token = f.parse(r.out);
  tunnel::registry reg(f.registry);
  ASSERT_TRUE(reg.find(token.tunnel_id));
  EXPECT_EQ(reg.find(token.tunnel_id)->domain, token.tunnel_id + ".tunnels.example.org");
  // A broken edge config is a usage error, with the config's own diagnostics.
  std::ofstream(config) << "base_domain: x.example.org\nregsitry: /tmp/x\n";
  const auto bad = run_mcpgate({"tunnel", "-c", config, "list"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unknown key \"regsitry\""), std::string::npos) << bad.err;
}

TEST(TunnelCli, ListAndShowAsTableAndJson) {
  tunnel_fixture f;
  const auto [a, token_a] = f.create("alpha");
  const auto [b, token_b] = f.create("beta", "mcp.acme.example");

  const auto table = f.run({"list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(lines_starting(table.out, "ID ").size(), 1u) << table.out;
  for (const auto* header : {"NAME", "DOMAIN", "CREATED", "STATE", "TOKEN"}) {
    EXPECT_NE(table.out.find(header), std::string::npos) << header;
  }
  ASSERT_EQ(lines_starting(table.out, a).size(), 1u) << table.out;
  const auto row_b = lines_starting(table.out, b);
  ASSERT_EQ(row_b.size(), 1u) << table.out;
  for (const auto* cell : {"beta", "mcp.acme.example", "active", "v1"}) {
    EXPECT_NE(row_b[0].find(cell), std::string::npos) << row_b[0];
  }
  EXPECT_EQ(table.out.find("mgt1_"), std::string::npos);

  const auto rows = f.list_json();
  ASSERT_EQ(rows.size(), 2u);
  const auto& row = rows[1].as_object().at("id").as_string() == b ? rows[1].as_object() : rows[0].as_object();
  EXPECT_EQ(row.at("name"), "beta");
  EXPECT_EQ(row.at("domain"), "mcp.acme.example");
  EXPECT_EQ(row.at("state"), "active");
  EXPECT_TRUE(row.at("archived_at").is_null());
  EXPECT_EQ(row.at("token_version").as_int64(), 1);
  EXPECT_EQ(row.at("created_at").as_string().size(), std::string("2026-01-01T00:00:00Z").size());

  const auto show = f.run({"show", a});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_TRUE(has_line(show.out, "id:            " + a)) << show.out;
  EXPECT_TRUE(has_line(show.out, "domain:        " + a + ".tunnel.example.com")) << show.out;
  EXPECT_TRUE(has_line(show.out, "state:         active")) << show.out;
  const auto show_json = f.run({"show", b, "--json"});
  ASSERT_EQ(show_json.exit_code, 0) << show_json.err;
  const auto one = boost::json::parse(show_json.out).as_object();
  EXPECT_EQ(one.at("id").as_string(), b);
  EXPECT_EQ(one.at("name"), "beta");

  const auto unknown = f.run({"show", "nosuchtunnel"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no tunnel \"nosuchtunnel\""), std::string::npos) << unknown.err;
}

TEST(TunnelCli, RotateTokenIssuesTheNextVersion) {
  tunnel_fixture f;
  const auto [id, v1] = f.create("alpha");
  const auto r = f.run({"rotate-token", id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;
  const auto v2 = f.parse(r.out);
  EXPECT_EQ(v2.tunnel_id, id);
  EXPECT_EQ(v2.version, 2u);
  EXPECT_NE(r.err.find("Save this token now"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("version 1 is refused"), std::string::npos) << r.err;
  EXPECT_EQ(f.present(v1), tunnel::auth_verdict::token_rotated);
  EXPECT_EQ(f.present(r.out), tunnel::auth_verdict::ok);
  EXPECT_EQ(f.list_json()[0].at("token_version").as_int64(), 2);

  EXPECT_EQ(f.run({"rotate-token", "nosuchtunnel"}).exit_code, 1);
}

TEST(TunnelCli, ArchiveNeedsYesAndIsPermanent) {
  tunnel_fixture f;
  const auto [id, token] = f.create("alpha", "mcp.acme.example");
  const auto refused = f.run({"archive", id});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("permanent"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--yes"), std::string::npos) << refused.err;
  EXPECT_EQ(f.present(token), tunnel::auth_verdict::ok);

  const auto done = f.run({"archive", id, "--yes"});
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(f.present(token), tunnel::auth_verdict::tunnel_archived);
  EXPECT_TRUE(f.list_json().empty());
  const auto all = f.list_json(true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].at("state"), "archived");
  EXPECT_TRUE(all[0].at("archived_at").is_string());

  EXPECT_EQ(f.run({"archive", id, "--yes"}).exit_code, 1);
  EXPECT_EQ(f.run({"rotate-token", id}).exit_code, 1);
  const auto reuse = f.run({"create", "--name", "again", "--domain", "mcp.acme.example"});
  EXPECT_EQ(reuse.exit_code, 1);
  EXPECT_NE(reuse.err.find("archived"), std::string::npos) << reuse.err;
  EXPECT_TRUE(reuse.out.empty());
  EXPECT_EQ(f.run({"archive", "nosuchtunnel", "--yes"}).exit_code, 1);
}

TEST(TunnelCli, FailedOperationsExitOne) {
  tunnel_fixture f;
  f.create("alpha", "mcp.acme.example");
  for (const auto& domain : {"mcp.acme.example", "x.mcp.acme.example", "acme.example"}) {
    const auto r = f.run({"create", "--name", "b", "--domain", domain});
    EXPECT_EQ(r.exit_code, 1) << domain << ": " << r.err;
    EXPECT_TRUE(r.out.empty());
  }
  // Only create makes a registry: a mistyped path is an error, not a new empty file.
  const auto missing = run_mcpgate({"tunnel", "list", "--registry", f.dir / "typo.db"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no registry at"), std::string::npos) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(f.dir / "typo.db"));
}

TEST(TunnelCli, BadArgumentsExitTwo) {
  tunnel_fixture f;
  f.create("alpha");
  const std::vector<std::vector<std::string>> bad{
      {"tunnel"},
      {"tunnel", "list"},                                                     // no --registry
      {"tunnel", "frobnicate", "--registry", f.registry},
      {"tunnel", "create", "--registry", f.registry, "--base-domain", "t.example.com"},  // no --name
      {"tunnel", "create", "--name", "x", "--registry", f.registry},                     // no domain
      {"tunnel", "create", "--name", "x", "--registry", f.registry, "--domain", "bad_name.example"},
      {"tunnel", "create", "--name", "x", "--registry", f.registry, "--base-domain", "-t.example.com"},
      {"tunnel", "create", "--name", "", "--registry", f.registry, "--base-domain", "t.example.com"},
      {"tunnel", "show", "--registry", f.registry},                           // no id
      {"tunnel", "list", "--registry", f.registry, "--bogus"},
      {"tunnel", "rotate-token", "--registry", f.registry},
  };
  for (const auto& args : bad) {
    const auto r = run_mcpgate(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << joined;
    EXPECT_EQ(r.out.find("mgt1_"), std::string::npos) << joined;
  }
  EXPECT_EQ(f.list_json().size(), 1u);
}

}  // namespace
}  // namespace mcpgate::cli_test
