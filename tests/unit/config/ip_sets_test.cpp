// ip_sets and the allow / deny rules of listeners and routes, as the loader reads them.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "config/units.hpp"
#include "config_test_util.hpp"

namespace mcpgate::config {
namespace {

using testing::has;
using testing::has_part;
using testing::loads;

load_result load_at(std::string_view yaml, const char* now) {
  overrides over;
  over.now = *parse_timestamp(now);
  return load_string(yaml, "t.yaml", over);
}

constexpr std::string_view claude_config = R"(listeners: [{ address: ":8080", allow: [claude] }]
ip_sets:
  claude:
    - 160.79.104.0/21
    - { cidr: 34.162.46.92/32, until: 2026-04-01 }
    - { cidr: "2001:db8::/48", from: "2026-05-01T12:00:00Z", until: "2027-01-01T00:00:00+01:00" }
  office: [203.0.113.0/24]
routes:
  mcp.example.com:
    upstream: http://10.0.0.5:3000
    allow: [office, 198.51.100.7]
    deny: [claude]
    action: abort
    dry_run: true
)";

TEST(IpSets, SetsWindowsAndRulesAreRead) {
  const auto r = load_at(claude_config, "2026-01-10");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& sets = r.snapshot->ip_sets;
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].name, "claude");
  ASSERT_EQ(sets[0].entries.size(), 3u);
  EXPECT_EQ(sets[0].entries[1].origin, "ip_sets.claude[1]");
  EXPECT_EQ(format_timestamp(*sets[0].entries[1].window.until), "2026-04-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(*sets[0].entries[2].window.from), "2026-05-01T12:00:00Z");
  EXPECT_EQ(format_timestamp(*sets[0].entries[2].window.until), "2026-12-31T23:00:00Z");

  const auto& listener = r.snapshot->listeners[0].access;
  ASSERT_EQ(listener.allow.size(), 1u);
  EXPECT_EQ(listener.allow[0].set, "claude");
  EXPECT_EQ(listener.action, access_rule::deny_action::abort);  // before TLS there is no one to answer
  const auto& route = r.snapshot->routes[0].access;
  ASSERT_EQ(route.allow.size(), 2u);
  EXPECT_EQ(route.allow[1].prefix->to_string(), "198.51.100.7/32");
  EXPECT_EQ(route.deny[0].set, "claude");
  EXPECT_EQ(route.action, access_rule::deny_action::abort);
  EXPECT_TRUE(route.dry_run);
  EXPECT_EQ(route.where, "routes.mcp.example.com");

  const auto summary = summarize(*r.snapshot);
  EXPECT_NE(summary.find("ip_set claude: 160.79.104.0/21 34.162.46.92/32 [..2026-04-01T00:00:00Z) 2001:db8::/48 "
                         "[2026-05-01T12:00:00Z..2026-12-31T23:00:00Z)\n"),
            std::string::npos)
      << summary;
  EXPECT_NE(summary.find("allow [office, 198.51.100.7/32] deny [claude] action abort (dry run)"), std::string::npos)
      << summary;
}

TEST(IpSets, ExpiredAndSoonExpiringEntriesAreWarnedAbout) {
  const auto soon = load_at(claude_config, "2026-03-20");
  ASSERT_TRUE(loads(soon));
  EXPECT_TRUE(has(soon, "t.yaml:5:7: warning: ip_sets.claude[1]: 34.162.46.92/32 expires at 2026-04-01T00:00:00Z (in 12 days)"))
      << testing::rendered(soon);
  const auto later = load_at(claude_config, "2026-04-02");
  EXPECT_TRUE(has(later, "t.yaml:5:7: warning: ip_sets.claude[1]: 34.162.46.92/32 expired at 2026-04-01T00:00:00Z "
                         "and matches nothing: remove it"))
      << testing::rendered(later);
  const auto early = load_at(claude_config, "2026-01-01");
  EXPECT_TRUE(early.diagnostics.empty()) << testing::rendered(early);
}

TEST(IpSets, MistakesAreErrorsWithTheirPlace) {
  const auto r = load_at(R"(listeners: [{ address: ":8080", allow: [claud, "10.0.0.1/8"], action: abort }]
ip_sets:
  claude:
    - 160.79.104.0/33
    - { cidr: 10.0.0.0/8, until: tomorrow }
    - { cidr: 10.0.0.0/8, from: 2026-05-01, until: 2026-04-01 }
    - { until: 2026-04-01 }
  9lives: [10.0.0.0/8]
  single: 10.0.0.0/8
routes:
  a: { upstream: "http://10.0.0.5:1", allow: claude, action: drop }
)",
                         "2026-01-01");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r, "t.yaml:1:41: error: listeners[0].allow[0]: unknown ip_sets name \"claud\"")) << testing::rendered(r);
  EXPECT_TRUE(has_part(r, "t.yaml:1:48: error: listeners[0].allow[1]: invalid entry \"10.0.0.1/8\": not an ip_sets name, and not an IP prefix ("));
  EXPECT_TRUE(has_part(r, "t.yaml:1:63: error: listeners[0].action: unknown key \"action\""));
  EXPECT_TRUE(has_part(r, "t.yaml:4:7: error: ip_sets.claude[0]: invalid IP prefix \"160.79.104.0/33\": "));
  EXPECT_TRUE(has_part(r, "t.yaml:5:34: error: ip_sets.claude[1].until: invalid time \"tomorrow\": not a date"));
  EXPECT_TRUE(has(r, "t.yaml:6:52: error: ip_sets.claude[2].until: until (2026-04-01T00:00:00Z) is not after from "
                     "(2026-05-01T00:00:00Z)"));
  EXPECT_TRUE(has(r, "t.yaml:7:7: error: ip_sets.claude[3].cidr: missing required key \"cidr\" (e.g. { cidr: "
                     "34.162.46.92/32, until: 2026-04-01 })"));
  EXPECT_TRUE(has_part(r, "t.yaml:8:3: error: ip_sets.9lives: invalid set name \"9lives\""));
  EXPECT_TRUE(has_part(r, "t.yaml:9:11: error: ip_sets.single: expected a list of addresses"));
  EXPECT_TRUE(has_part(r, "t.yaml:11:46: error: routes.a.allow: expected a list of ip_sets names or IP prefixes"));
  EXPECT_TRUE(has(r, "t.yaml:11:62: error: routes.a.action: invalid action \"drop\" (expected abort or 403)"));
}

TEST(IpSets, UnusedSetIsAWarning) {
  const auto r = load_at("listeners: [{ address: \":8080\" }]\nip_sets: { office: [203.0.113.0/24] }\n", "2026-01-01");
  ASSERT_TRUE(loads(r));
  EXPECT_TRUE(has_part(r, "warning: ip_sets.office: set \"office\" is not used by any allow or deny"));
}

}  // namespace
}  // namespace mcpgate::config

namespace mcpgate::config {
namespace {

TEST(AllowedOrigins, AreReadLowerCasedAndCheckedForShape) {
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  "*": { upstream: "http://10.0.0.5:1", allowed_origins: ["https://App.Example.com", "http://localhost:6274", "null"] }
)",
                             "t.yaml");
  ASSERT_TRUE(testing::loads(r));
  EXPECT_EQ(r.snapshot->routes[0].allowed_origins,
            (std::vector<std::string>{"https://app.example.com", "http://localhost:6274", "null"}));
  const auto bad = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  "*": { upstream: "http://10.0.0.5:1", allowed_origins: ["https://a.example/path", "a.example"] }
)",
                               "t.yaml");
  EXPECT_TRUE(testing::has_part(bad, "routes.*.allowed_origins[0]: invalid origin \"https://a.example/path\" (expected scheme://host[:port]"));
  EXPECT_TRUE(testing::has_part(bad, "routes.*.allowed_origins[1]: invalid origin \"a.example\""));
}

}  // namespace
}  // namespace mcpgate::config
