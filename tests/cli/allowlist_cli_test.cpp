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
  - { address: "127.0.0.1:8080" }
ip_sets:
  claude:
    - 160.79.104.0/21
    - 160.79.105.0/24
    - { cidr: 34.162.46.92/32, until: 2026-04-01 }
    - { cidr: "2001:db8::/48", from: 2027-01-01 }
  office: [203.0.113.0/24, "2001:db8:1::/48"]
  lab-net.2: [198.51.100.0/25, 198.51.100.128/25, 198.51.101.0/24, "2001:db8:2::/49", "2001:db8:2:8000::/49"]
routes:
  echo: { upstream: "http://10.0.0.5:8080", allow: [claude, office], deny: [203.0.113.9], action: abort }
  lab: { upstream: "http://10.0.0.6:8080", deny: [lab-net.2], dry_run: true }
)";

constexpr const char* today = "2026-11-22";  // after claude[2] expired, before claude[3] starts

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

boost::json::object check_json(allowlist_fixture& f, const std::string& address, const std::string& at = today) {
  const auto r = f.run({"check", address, "--json", "--at", at});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return boost::json::parse(r.out).as_object();
}

boost::json::object rule(const boost::json::object& out, const std::string& name) {
  for (const auto& row : out.at("rules").as_array()) {
    if (row.at("rule").as_string() == name) return row.as_object();
  }
  ADD_FAILURE() << "no rule " << name << " in " << boost::json::serialize(out);
  return {};
}

std::string verdict(const boost::json::object& out, const std::string& name) {
  const auto row = rule(out, name);
  return row.contains("verdict") ? std::string(row.at("verdict").as_string()) : "missing";
}

// Lines that are not comments: what the tool would apply.
std::string without_comments(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t") != std::string::npos && line[line.find_first_not_of(" \t")] == '#') continue;
    out += line + "\n";
  }
  return out;
}

TEST(AllowlistCheck, V4AndV6AddressesAtTheBoundariesOfAPrefix) {
  allowlist_fixture f;
  EXPECT_EQ(verdict(check_json(f, "160.79.104.0"), "listeners[0]"), "allowed");    // first of the /21
  EXPECT_EQ(verdict(check_json(f, "160.79.111.255"), "listeners[0]"), "allowed");  // last
  EXPECT_EQ(verdict(check_json(f, "160.79.112.0"), "listeners[0]"), "not_in_allow_list");  // one past it
  EXPECT_EQ(verdict(check_json(f, "160.79.103.255"), "listeners[0]"), "not_in_allow_list");  // one before
  const auto mapped = check_json(f, "::ffff:160.79.104.7");  // an IPv4 client on a dual-stack socket
  EXPECT_EQ(verdict(mapped, "listeners[0]"), "allowed");
  EXPECT_EQ(mapped.at("address"), "160.79.104.7");
  EXPECT_EQ(rule(mapped, "listeners[0]").at("matched").as_array()[0], "claude 160.79.104.0/21");
  const auto office_v6 = check_json(f, "2001:db8:1::42");
  EXPECT_EQ(verdict(office_v6, "listeners[0]"), "not_in_allow_list");
  EXPECT_EQ(verdict(office_v6, "routes.echo"), "allowed");
  EXPECT_EQ(rule(office_v6, "routes.echo").at("matched").as_array()[0], "office 2001:db8:1::/48");
  const auto entries = check_json(f, "160.79.105.1").at("entries").as_array();
  ASSERT_EQ(entries.size(), 2u);  // both the /21 and the /24 contain it
  EXPECT_EQ(entries[1].at("entry"), "ip_sets.claude[1]");
  EXPECT_EQ(entries[1].at("state"), "active");
}

TEST(AllowlistCheck, TimeWindowsAreJudgedAtTheInstantAsked) {
  allowlist_fixture f;
  const auto before = check_json(f, "34.162.46.92", "2026-03-31T23:59:59Z");
  EXPECT_EQ(verdict(before, "listeners[0]"), "allowed");
  EXPECT_EQ(before.at("entries").as_array()[0].at("state"), "active");
  const auto after = check_json(f, "34.162.46.92", "2026-04-01");
  EXPECT_EQ(verdict(after, "listeners[0]"), "not_in_allow_list");
  EXPECT_EQ(after.at("entries").as_array()[0].at("state"), "expired 2026-04-01T00:00:00Z");
  EXPECT_EQ(after.at("entries").as_array()[0].at("active"), false);
  const auto not_yet = check_json(f, "2001:db8::1", "2026-12-31");
  EXPECT_EQ(verdict(not_yet, "listeners[0]"), "not_in_allow_list");
  EXPECT_EQ(not_yet.at("entries").as_array()[0].at("state"), "starts 2027-01-01T00:00:00Z");
  EXPECT_EQ(verdict(check_json(f, "2001:db8::1", "2027-01-01"), "listeners[0]"), "allowed");
  const auto text = f.run({"check", "34.162.46.92", "--at", "2026-04-01"});
  EXPECT_TRUE(has_line(text.out, "  ip_sets.claude[2] 34.162.46.92/32 (until 2026-04-01T00:00:00Z): expired "
                                 "2026-04-01T00:00:00Z"))
      << text.out;
}

TEST(AllowlistCheck, RouteDenyLiteralWinsAndTheTextSaysWhy) {
  allowlist_fixture f;
  const auto r = f.run({"check", "203.0.113.9", "--at", today});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has_line(r.out, "  routes.echo: refused (deny list: 203.0.113.9/32), action abort")) << r.out;
  EXPECT_TRUE(has_line(r.out, "  listeners[0]: refused (not in the allow list: claude), action close")) << r.out;
  EXPECT_TRUE(has_line(r.out, "  ip_sets.office[0] 203.0.113.0/24 (always): active")) << r.out;
  const auto json = check_json(f, "203.0.113.9");
  EXPECT_EQ(verdict(json, "routes.echo"), "denied_by_deny");
  EXPECT_EQ(rule(json, "routes.echo").at("action"), "abort");
  EXPECT_EQ(verdict(check_json(f, "203.0.113.10"), "routes.echo"), "allowed");  // its neighbour: office
}

TEST(AllowlistCheck, EveryListenerAndRouteIsAnsweredWithActionAndDryRun) {
  allowlist_fixture f;
  const auto out = check_json(f, "198.51.100.200");
  const auto& rules = out.at("rules").as_array();
  ASSERT_EQ(rules.size(), 4u) << boost::json::serialize(out);
  EXPECT_EQ(verdict(out, "listeners[1]"), "allowed");  // no rule at all
  EXPECT_EQ(rule(out, "listeners[1]").at("why"), "no allow or deny list");
  const auto lab = rule(out, "routes.lab");
  EXPECT_EQ(lab.at("verdict"), "denied_by_deny");
  EXPECT_EQ(lab.at("matched").as_array()[0], "lab-net.2 198.51.100.128/25");
  EXPECT_EQ(lab.at("action"), "403");
  EXPECT_EQ(lab.at("dry_run"), true);
  const auto text = f.run({"check", "198.51.100.200", "--at", today});
  EXPECT_TRUE(has_line(text.out, "  routes.lab: refused (deny list: lab-net.2 198.51.100.128/25), action 403 "
                                 "[dry run: only logged, the client goes on]"))
      << text.out;
  EXPECT_TRUE(has_line(text.out, "  listeners[1]: allowed (no allow or deny list)")) << text.out;
}

TEST(AllowlistCheck, BadInputIsAClearErrorWithExitCode2) {
  allowlist_fixture f;
  auto r = f.run({"check", "160.79.104.999"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("\"160.79.104.999\" is not an IPv4 or IPv6 address"), std::string::npos) << r.err;
  r = f.run({"check", "160.79.104.1", "--at", "tomorrow"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--at: "), std::string::npos) << r.err;
  r = f.run({"render", "--format", "nftables", "--set", "nope"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--set: no ip_sets entry named \"nope\" (the config has: claude, office, lab-net.2)"),
            std::string::npos)
      << r.err;
  r = f.run({"render", "--format", "pf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("ufw,nftables,iptables,ip6tables,caddy"), std::string::npos) << r.err;
  r = f.run({"render", "--format", "ufw", "--port", "70000"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_mcpgate({"allowlist", "check"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("address is required"), std::string::npos) << r.err;
  r = run_mcpgate({"allowlist", "check", "192.0.2.1", "--config", f.dir / "missing.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot use the config"), std::string::npos) << r.err;
  const auto broken = f.write("broken.yaml", "ip_sets: { a: [10.0.0.1/8] }\n");
  r = run_mcpgate({"allowlist", "render", "--format", "ufw", "--config", broken});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("ip_sets.a[0]"), std::string::npos) << r.err;  // the loader's own message
}

TEST(AllowlistRender, ExpiredAndFutureEntriesAreLeftOutAndSaidSo) {
  allowlist_fixture f;
  for (const std::string format : {"ufw", "nftables", "iptables", "ip6tables", "caddy"}) {
    const auto r = f.run({"render", "--format", format, "--at", today});
    ASSERT_EQ(r.exit_code, 0) << format << ": " << r.err;
    EXPECT_TRUE(has_line(r.out, "# left out: ip_sets.claude[2] 34.162.46.92/32 (expired 2026-04-01T00:00:00Z)"))
        << r.out;
    EXPECT_TRUE(has_line(r.out, "# left out: ip_sets.claude[3] 2001:db8::/48 (starts 2027-01-01T00:00:00Z)"));
    const auto applied = without_comments(r.out);
    EXPECT_EQ(applied.find("34.162.46.92"), std::string::npos) << format << ":\n" << applied;
    EXPECT_EQ(applied.find("2001:db8::/48"), std::string::npos) << format << ":\n" << applied;
    EXPECT_EQ(applied.find("160.79.105.0/24"), std::string::npos) << applied;  // inside the /21
    EXPECT_EQ(applied.find("198.51.100"), std::string::npos) << applied;  // lab-net.2 is in no allow list
  }
  const auto earlier = f.run({"render", "--format", "ufw", "--at", "2026-03-01", "--set", "claude", "--port", "8443"});
  EXPECT_TRUE(has_line(earlier.out, "ufw allow from 34.162.46.92/32 to any port 8443 proto tcp comment 'mcpgate claude'"))
      << earlier.out;
  EXPECT_EQ(earlier.out.find("office"), std::string::npos);
  const auto revert = f.run({"render", "--format", "ufw", "--revert", "--at", today});
  EXPECT_TRUE(has_line(revert.out, "ufw delete allow from 203.0.113.0/24 to any port 443 proto tcp")) << revert.out;
}

TEST(AllowlistRender, NestedAndAdjacentPrefixesAreMerged) {
  allowlist_fixture f;
  const auto r = f.run({"render", "--format", "ufw", "--set", "lab-net.2", "--set", "lab-net.2", "--at", today});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 198.51.100.0/25 + .128/25 = 198.51.100.0/24, + 198.51.101.0/24 = 198.51.100.0/23
  EXPECT_EQ(lines_starting(r.out, "ufw "),
            (std::vector<std::string>{
                "ufw allow from 198.51.100.0/23 to any port 443 proto tcp comment 'mcpgate lab-net.2'",
                "ufw allow from 2001:db8:2::/48 to any port 443 proto tcp comment 'mcpgate lab-net.2'"}))
      << r.out;
}

// A tool to validate output with: run on a known-good input first, so a machine where it
// cannot run at all (not root, no netlink permission in a container) skips with the
// reason; then a deliberately broken input must fail (the check really checks). A tool that
// is not installed fails the test: scripts/install-deps --test installs every one.
struct tool_check {
  std::vector<std::string> command;  // the file is appended
  std::string good, broken;
};

run_result run_on(allowlist_fixture& f, const tool_check& tool, const std::string& name, const std::string& text) {
  auto command = tool.command;
  command.push_back(f.write(name, text));
  return run_command(command, {}, std::chrono::seconds(60));
}

// Why the tool cannot run here, or "" when it can (and then it refuses the broken input).
std::string cannot_run(allowlist_fixture& f, const tool_check& tool) {
  const auto probe = run_on(f, tool, "probe", tool.good);
  if (probe.exit_code != 0) return tool.command[0] + " cannot run here: " + probe.out + probe.err;
  const auto broken = run_on(f, tool, "broken", tool.broken);
  EXPECT_NE(broken.exit_code, 0) << tool.command[0] << " accepted a broken input: the check is not checking";
  return {};
}

void expect_accepted(allowlist_fixture& f, const tool_check& tool, const std::string& rendered) {
  const auto r = run_on(f, tool, "rendered", rendered);
  EXPECT_EQ(r.exit_code, 0) << tool.command[0] << " refused:\n" << rendered << "\n" << r.out << r.err;
}

std::string render(allowlist_fixture& f, const std::string& format, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"render", "--format", format, "--at", today};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = f.run(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// A config whose only entry has expired: every format must still be a valid file (an empty
// nft set, a Caddy block that aborts everyone).
std::string render_all_expired(allowlist_fixture& f, const std::string& format) {
  const auto config = f.write("expired.yaml",
                              "ip_sets:\n  old: [{ cidr: 10.0.0.0/8, until: 2020-01-01 }]\n"
                              "listeners:\n  - { address: \"127.0.0.1:8080\", allow: [old] }\n");
  const auto r = run_mcpgate({"allowlist", "render", "--format", format, "--config", config});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_comments(r.out).find("10.0.0.0"), std::string::npos) << r.out;
  return r.out;
}

TEST(AllowlistRender, NftablesFileIsAcceptedByNftCheck) {
  allowlist_fixture f;
  const tool_check nft{{"nft", "-c", "-f"},
                       "table inet probe {\n  set s { type ipv4_addr; flags interval; }\n}\n",
                       "table inet probe {\n  set s { type ipv4_addr; flags interval; elements = { 1.2.3.0/33 } }\n}\n"};
  const auto out = render(f, "nftables");
  EXPECT_NE(out.find("elements = { 160.79.104.0/21 }"), std::string::npos) << out;
  EXPECT_NE(out.find("tcp dport 443 drop"), std::string::npos) << out;
  if (const auto why = cannot_run(f, nft); !why.empty()) GTEST_SKIP() << why;
  // nft refuses overlapping intervals: this file is the proof that overlaps were merged.
  const std::string overlapping = "table inet probe {\n  set s { type ipv4_addr; flags interval; elements = { "
                                  "160.79.104.0/21, 160.79.105.0/24 } }\n}\n";
  EXPECT_NE(run_on(f, nft, "overlapping", overlapping).exit_code, 0);
  expect_accepted(f, nft, out);
  // Every set at once: names with '-' and '.', a set with no IPv6 entry active (empty set).
  expect_accepted(f, nft, render(f, "nftables", {"--set", "claude", "--set", "lab-net.2", "--set", "office", "--port", "8443"}));
  const auto revert = render(f, "nftables", {"--revert"});
  EXPECT_TRUE(has_line(revert, "delete table inet mcpgate")) << revert;
  expect_accepted(f, nft, revert);  // also when the table is not there (nothing was loaded)
  expect_accepted(f, nft, render_all_expired(f, "nftables"));
}

TEST(AllowlistRender, IptablesFilesAreAcceptedByTheRestoreTestMode) {
  allowlist_fixture f;
  const std::string good = "*filter\n:PROBE - [0:0]\n-A PROBE -p tcp --dport 443 -j DROP\nCOMMIT\n";
  const tool_check v4{{"iptables-restore", "--test", "--noflush"}, good,
                      "*filter\n:PROBE - [0:0]\n-A PROBE -s 1.2.3.0/33 -j DROP\nCOMMIT\n"};
  const tool_check v6{{"ip6tables-restore", "--test", "--noflush"}, good,
                      "*filter\n:PROBE - [0:0]\n-A PROBE -s ::/129 -j DROP\nCOMMIT\n"};
  const auto out4 = render(f, "iptables");
  EXPECT_NE(out4.find("-A MCPGATE -s 160.79.104.0/21 -p tcp --dport 443 -m comment --comment \"mcpgate claude\" -j ACCEPT"),
            std::string::npos)
      << out4;
  EXPECT_TRUE(has_line(out4, "# IPv6: 1 prefix is not in this file; render --format ip6tables for those")) << out4;
  const auto out6 = render(f, "ip6tables");
  EXPECT_NE(out6.find("-A MCPGATE -s 2001:db8:1::/48 -p tcp --dport 443"), std::string::npos) << out6;
  EXPECT_EQ(without_comments(out6).find("203.0.113"), std::string::npos) << out6;
  for (const auto* tool : {&v4, &v6}) {
    if (const auto why = cannot_run(f, *tool); !why.empty()) GTEST_SKIP() << why;
  }
  expect_accepted(f, v4, out4);
  expect_accepted(f, v6, out6);
  expect_accepted(f, v4, render(f, "iptables", {"--set", "lab-net.2"}));
  expect_accepted(f, v4, render_all_expired(f, "iptables"));
}

TEST(AllowlistRender, CaddySnippetIsAcceptedByCaddyAdaptAndValidate) {
  allowlist_fixture f;
  const auto out = render(f, "caddy");
  EXPECT_TRUE(has_line(out, "\t@mcpgate_denied not remote_ip 160.79.104.0/21 203.0.113.0/24 2001:db8:1::/48")) << out;
  EXPECT_TRUE(has_line(out, "\tabort @mcpgate_denied")) << out;
  // caddy keeps state under the XDG directories: the test's own, never the machine's.
  const std::vector<std::string> env{"env", "XDG_DATA_HOME=" + f.dir / "xdg-data",
                                     "XDG_CONFIG_HOME=" + f.dir / "xdg-config", "caddy"};
  auto caddy = [&](std::vector<std::string> args) {
    auto command = env;
    command.insert(command.end(), args.begin(), args.end());
    return command;
  };
  const std::string good = "example.com {\n\trespond ok\n}\n";
  // adapt only parses (a bad CIDR gets through), validate also provisions the matchers.
  const tool_check adapt{caddy({"adapt", "--adapter", "caddyfile", "--config"}), good,
                         "example.com {\n\tnot_a_directive x\n}\n"};
  const tool_check validate{caddy({"validate", "--adapter", "caddyfile", "--config"}), good,
                            "example.com {\n\t@x not remote_ip 1.2.3.0/33\n\tabort @x\n}\n"};
  for (const auto* tool : {&adapt, &validate}) {
    if (const auto why = cannot_run(f, *tool); !why.empty()) GTEST_SKIP() << why;
  }
  expect_accepted(f, adapt, out);
  expect_accepted(f, validate, out);
  expect_accepted(f, validate, render_all_expired(f, "caddy"));
}

// ufw has no file format: each printed line is one command, run here with --dry-run.
std::vector<std::string> ufw_dry_run_argv(const std::string& line) {
  std::vector<std::string> argv{"ufw", "--dry-run"};
  std::string rest = line.substr(4);  // after "ufw "
  std::string comment_text;
  if (const auto comment = rest.find(" comment '"); comment != std::string::npos) {
    comment_text = rest.substr(comment + 10, rest.size() - comment - 11);
    rest = rest.substr(0, comment);
  }
  std::istringstream words(rest);
  for (std::string w; words >> w;) argv.push_back(w);
  if (!comment_text.empty()) argv.insert(argv.end(), {"comment", comment_text});
  return argv;
}

std::string ufw_user_rules() {
  std::string all;
  for (const char* file : {"/etc/ufw/user.rules", "/etc/ufw/user6.rules"}) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

TEST(AllowlistRender, EveryUfwLineIsAcceptedByUfwDryRun) {
  allowlist_fixture f;
  std::vector<std::string> lines;
  for (const auto& extra : {std::vector<std::string>{}, std::vector<std::string>{"--revert"}}) {
    for (const auto& line : lines_starting(render(f, "ufw", extra), "ufw ")) lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 6u);  // three prefixes, allow and delete
  const auto before = ufw_user_rules();
  const auto probe = run_command({"ufw", "--dry-run", "allow", "from", "192.0.2.0/24", "to", "any", "port", "443", "proto", "tcp"});
  if (probe.exit_code != 0) GTEST_SKIP() << "ufw cannot run here: " << probe.out << probe.err;
  EXPECT_NE(run_command({"ufw", "--dry-run", "allow", "from", "192.0.2.0/33", "to", "any", "port", "443"}).exit_code, 0)
      << "ufw accepted a broken prefix: the check is not checking";
  for (const auto& line : lines) {
    const auto r = run_command(ufw_dry_run_argv(line));
    EXPECT_EQ(r.exit_code, 0) << line << "\n" << r.out << r.err;
  }
  EXPECT_EQ(ufw_user_rules(), before) << "ufw --dry-run changed the machine's rules";
}

}  // namespace
}  // namespace mcpgate::cli_test
