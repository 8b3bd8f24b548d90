// `mcpgate allowlist check | render`: the answers match the gateway's rules at an instant,
// and every rendered format is accepted by the real tool (nft, iptables-restore,
// ip6tables-restore, caddy, ufw), each run in a check / dry-run mode that changes nothing.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli_support.hpp"

namespace mcpgate::cli_test {
namespace {

constexpr const char* config_text = R"(listeners:
  - { address: "127.0.0.1:8443", allow: [claude] }
ip_sets:
  claude:
    - 160.79.104.0/21
    - 160.79.105.0/24
    - { cidr: 34.162.46.92/32, until: 2026-04-01 }
    - { cidr: "2001:db8::/48", from: 2027-01-01 }
  office: [203.0.113.0/24, "2001:db8:1::/48"]
routes:
  echo: { upstream: "http://10.0.0.5:8080", allow: [claude, office], deny: [203.0.113.9], action: abort }
)";

struct allowlist_fixture {
  temp_dir dir;
  std::string config = dir / "config.yaml";
  allowlist_fixture() { std::ofstream(config) << config_text; }
  run_result run(std::vector<std::string> args) {
    args.insert(args.begin(), "allowlist");
    args.insert(args.end(), {"--config", config});
    return run_mcpgate(args);
  }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir / name;
    std::ofstream(path) << text;
    return path;
  }
};

boost::json::object check_json(allowlist_fixture& f, const std::string& address, const std::string& at = "2026-11-22") {
  const auto r = f.run({"check", address, "--json", "--at", at});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return boost::json::parse(r.out).as_object();
}

std::string decision(const boost::json::object& out, const std::string& rule) {
  for (const auto& row : out.at("rules").as_array()) {
    if (row.at("rule").as_string() == rule) return std::string(row.at("decision").as_string());
  }
  return "missing";
}

TEST(AllowlistCheck, V4AndV6AddressesAtTheBoundariesOfAPrefix) {
  allowlist_fixture f;
  EXPECT_EQ(decision(check_json(f, "160.79.104.0"), "listeners[0]"), "allowed");    // first of the /21
  EXPECT_EQ(decision(check_json(f, "160.79.111.255"), "listeners[0]"), "allowed");  // last
  EXPECT_EQ(decision(check_json(f, "160.79.112.0"), "listeners[0]"), "refused");    // one past it
  EXPECT_EQ(decision(check_json(f, "160.79.103.255"), "listeners[0]"), "refused");  // one before
  EXPECT_EQ(decision(check_json(f, "::ffff:160.79.104.7"), "listeners[0]"), "allowed");  // mapped = IPv4
  EXPECT_EQ(check_json(f, "::ffff:160.79.104.7").at("address"), "160.79.104.7");
  const auto office_v6 = check_json(f, "2001:db8:1::42");
  EXPECT_EQ(decision(office_v6, "listeners[0]"), "refused");
  EXPECT_EQ(decision(office_v6, "routes.echo"), "allowed");
  const auto entries = check_json(f, "160.79.105.1").at("entries").as_array();
  ASSERT_EQ(entries.size(), 2u);  // both the /21 and the /24 contain it
  EXPECT_EQ(entries[1].at("entry"), "ip_sets.claude[1]");
}

TEST(AllowlistCheck, TimeWindowsAreJudgedAtTheInstantAsked) {
  allowlist_fixture f;
  const auto before = check_json(f, "34.162.46.92", "2026-03-31T23:59:59Z");
  EXPECT_EQ(decision(before, "listeners[0]"), "allowed");
  const auto after = check_json(f, "34.162.46.92", "2026-04-01");
  EXPECT_EQ(decision(after, "listeners[0]"), "refused");
  EXPECT_EQ(after.at("entries").as_array()[0].at("state"), "expired 2026-04-01T00:00:00Z");
  EXPECT_EQ(decision(check_json(f, "2001:db8::1", "2026-12-31"), "listeners[0]"), "refused");
  EXPECT_EQ(decision(check_json(f, "2001:db8::1", "2027-01-01"), "listeners[0]"), "allowed");
}

TEST(AllowlistCheck, RouteDenyLiteralWinsAndTheTextSaysWhy) {
  allowlist_fixture f;
  const auto r = f.run({"check", "203.0.113.9", "--at", "2026-11-22"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has_line(r.out, "  routes.echo: refused (deny list: 203.0.113.9/32), action abort")) << r.out;
  EXPECT_TRUE(has_line(r.out, "  listeners[0]: refused (not in the allow list), action close")) << r.out;
  EXPECT_TRUE(has_line(r.out, "  ip_sets.office[0] 203.0.113.0/24 (always): active")) << r.out;
}

TEST(AllowlistCheck, BadInputIsAClearError) {
  allowlist_fixture f;
  auto r = f.run({"check", "160.79.104.999"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("\"160.79.104.999\" is not an IPv4 or IPv6 address"), std::string::npos) << r.err;
  r = f.run({"check", "160.79.104.1", "--at", "tomorrow"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--at: "), std::string::npos) << r.err;
  r = f.run({"render", "--format", "nftables", "--set", "nope"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no ip_sets entry named \"nope\" (the config has: claude, office)"), std::string::npos) << r.err;
  r = run_mcpgate({"allowlist", "render", "--format", "pf", "--config", f.config});
  EXPECT_NE(r.exit_code, 0);
}

TEST(AllowlistRender, ExpiredAndFutureEntriesAreLeftOutAndSaidSo) {
  allowlist_fixture f;
  const auto r = f.run({"render", "--format", "ufw", "--at", "2026-11-22"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has_line(r.out, "# left out: ip_sets.claude[2] 34.162.46.92/32 (expired 2026-04-01T00:00:00Z)")) << r.out;
  EXPECT_TRUE(has_line(r.out, "# left out: ip_sets.claude[3] 2001:db8::/48 (starts 2027-01-01T00:00:00Z)"));
  EXPECT_EQ(r.out.find("ufw allow from 34.162.46.92"), std::string::npos);
  EXPECT_EQ(r.out.find("160.79.105.0/24"), std::string::npos);  // inside the /21: one rule covers it
  EXPECT_TRUE(has_line(r.out, "ufw allow from 160.79.104.0/21 to any port 443 proto tcp comment 'mcpgate claude'"));
  const auto earlier = f.run({"render", "--format", "ufw", "--at", "2026-03-01", "--set", "claude", "--port", "8443"});
  EXPECT_TRUE(has_line(earlier.out, "ufw allow from 34.162.46.92/32 to any port 8443 proto tcp comment 'mcpgate claude'"))
      << earlier.out;
  EXPECT_EQ(earlier.out.find("office"), std::string::npos);
  const auto revert = f.run({"render", "--format", "ufw", "--revert", "--at", "2026-11-22"});
  EXPECT_TRUE(has_line(revert.out, "ufw delete allow from 203.0.113.0/24 to any port 443 proto tcp")) << revert.out;
}

// Runs `tool` on a known-good input first: a machine where it cannot run at all (not
// installed, no netlink permission in a container) skips with the reason; everything
// after that must pass, and a deliberately broken input must fail (the check really runs).
struct tool_check {
  std::vector<std::string> command;  // the file is appended
  std::string good, broken;
};

void expect_accepted(allowlist_fixture& f, const tool_check& tool, const std::string& rendered) {
  auto with = [&](const std::string& name, const std::string& text) {
    auto command = tool.command;
    command.push_back(f.write(name, text));
    return run_command(command, {}, std::chrono::seconds(60));
  };
  const auto probe = with("probe", tool.good);
  if (probe.exit_code != 0) GTEST_SKIP() << tool.command[0] << " cannot run here: " << probe.err;
  const auto broken = with("broken", tool.broken);
  EXPECT_NE(broken.exit_code, 0) << tool.command[0] << " accepted a broken input: the check is not checking";
  const auto real = with("rendered", rendered);
  EXPECT_EQ(real.exit_code, 0) << tool.command[0] << " refused:\n" << rendered << "\n" << real.out << real.err;
}

std::string render(allowlist_fixture& f, const std::string& format, bool revert = false) {
  std::vector<std::string> args{"render", "--format", format, "--at", "2026-11-22"};
  if (revert) args.push_back("--revert");
  const auto r = f.run(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(AllowlistRender, NftablesFileIsAcceptedByNftCheck) {
  allowlist_fixture f;
  const auto out = render(f, "nftables");
  EXPECT_NE(out.find("elements = { 160.79.104.0/21 }"), std::string::npos) << out;
  expect_accepted(f, {{"nft", "-c", "-f"}, "table inet probe {\n  set s { type ipv4_addr; flags interval; }\n}\n",
                      "table inet probe {\n  set s { type ipv4_addr; flags interval; elements = { 1.2.3.0/33 } }\n}\n"},
                  out);
}

TEST(AllowlistRender, IptablesFilesAreAcceptedByTheRestoreTestMode) {
  allowlist_fixture f;
  const std::string good = "*filter\n:PROBE - [0:0]\n-A PROBE -p tcp --dport 443 -j DROP\nCOMMIT\n";
  const std::string broken = "*filter\n:PROBE - [0:0]\n-A PROBE -s 1.2.3.0/33 -j DROP\nCOMMIT\n";
  expect_accepted(f, {{"iptables-restore", "--test", "--noflush"}, good, broken}, render(f, "iptables"));
  const auto v6 = render(f, "ip6tables");
  EXPECT_NE(v6.find("-A MCPGATE -s 2001:db8:1::/48 -p tcp --dport 443"), std::string::npos) << v6;
  expect_accepted(f, {{"ip6tables-restore", "--test", "--noflush"}, good, "*filter\n-A PROBE -s ::/129 -j DROP\nCOMMIT\n"}, v6);
}

TEST(AllowlistRender, CaddySnippetIsAcceptedByCaddyValidate) {
  allowlist_fixture f;
  const auto out = render(f, "caddy");
  EXPECT_NE(out.find("@mcpgate_denied not remote_ip 160.79.104.0/21 203.0.113.0/24 2001:db8:1::/48"), std::string::npos)
      << out;
  // caddy keeps its state under XDG dirs: point them into the test's directory.
  ::setenv("XDG_DATA_HOME", (f.dir / "xdg-data").c_str(), 1);
  ::setenv("XDG_CONFIG_HOME", (f.dir / "xdg-config").c_str(), 1);
  const std::string good = "example.com {\n\trespond ok\n}\n";
  const std::string broken = "example.com {\n\t@x not remote_ip 1.2.3.0/33\n\tabort @x\n}\n";
  expect_accepted(f, {{"caddy", "validate", "--adapter", "caddyfile", "--config"}, good, broken}, out);
}

TEST(AllowlistRender, EveryUfwLineIsAcceptedByUfwDryRun) {
  allowlist_fixture f;
  std::vector<std::string> lines;
  for (const bool revert : {false, true}) {
    for (const auto& line : lines_starting(render(f, "ufw", revert), "ufw ")) lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 6u);  // three prefixes, allow and delete
  const auto probe = run_command({"ufw", "--dry-run", "allow", "from", "192.0.2.0/24", "to", "any", "port", "443", "proto", "tcp"});
  if (probe.exit_code != 0) GTEST_SKIP() << "ufw cannot run here: " << probe.err;
  EXPECT_NE(run_command({"ufw", "--dry-run", "allow", "from", "192.0.2.0/33", "to", "any", "port", "443"}).exit_code, 0);
  for (const auto& line : lines) {
    // ufw allow from X to any port P proto tcp [comment 'mcpgate S'] -> argv with --dry-run
    std::vector<std::string> argv{"ufw", "--dry-run"};
    std::string rest = line.substr(4);
    const auto comment = rest.find(" comment '");
    std::string comment_text;
    if (comment != std::string::npos) {
      comment_text = rest.substr(comment + 10, rest.size() - comment - 11);
      rest = rest.substr(0, comment);
    }
    std::istringstream words(rest);
    for (std::string w; words >> w;) argv.push_back(w);
    if (!comment_text.empty()) {
      argv.push_back("comment");
      argv.push_back(comment_text);
    }
    const auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 0) << line << "\n" << r.out << r.err;
  }
}

}  // namespace
}  // namespace mcpgate::cli_test
