// Route tools / prompts / resources rules as the loader reads them.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "config_test_util.hpp"

namespace mcpgate::config {
namespace {

using testing::has;
using testing::has_part;
using testing::loads;

TEST(McpPolicyConfig, GlobsAndTheObjectFormAreRead) {
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  files.example.com:
    upstream: "http://10.0.0.5:1"
    tools: { allow: [read_file, "list_*", { name: search_files }], deny: [read_secrets] }
    prompts: { deny: ["*"], dry_run: true }
    resources: { allow: ["file:///srv/*"] }
    rate_limit: { requests: 5, per: 1m, key: [client_ip, tool] }
)",
                             "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& p = r.snapshot->routes[0].policy;
  ASSERT_EQ(p.tools.allow.size(), 3u);
  EXPECT_EQ(p.tools.allow[1].glob, "list_*");
  EXPECT_EQ(p.tools.allow[2].glob, "search_files");
  EXPECT_EQ(p.tools.deny[0].glob, "read_secrets");
  EXPECT_EQ(p.tools.where, "routes.files.example.com.tools");
  EXPECT_TRUE(p.prompts.dry_run);
  EXPECT_EQ(p.resources.allow[0].glob, "file:///srv/*");
  EXPECT_TRUE(r.snapshot->routes[0].judges_mcp_body());
  const auto text = summarize(*r.snapshot);
  EXPECT_NE(text.find("tools allow [read_file, list_*, search_files] deny [read_secrets] prompts deny [*] (dry run) "
                      "resources allow [file:///srv/*]"),
            std::string::npos)
      << text;
}

TEST(McpPolicyConfig, MistakesAreErrorsWithTheirPlace) {
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  a: { upstream: "http://10.0.0.5:1", tools: { allow: read_file } }
  b: { upstream: "http://10.0.0.5:1", tools: { allow: [""], permit: [x] } }
  c: { upstream: "http://10.0.0.5:1", prompts: { deny: [{ name: x, scope: y }, { tool: z }] } }
  d: { upstream: "http://10.0.0.5:1", mcp: false, tools: { deny: [x] } }
  e: { upstream: "http://10.0.0.5:1", mcp: false, rate_limit: { requests: 1, key: tool } }
)",
                             "t.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_part(r, "routes.a.tools.allow: expected a list of names or globs")) << testing::rendered(r);
  EXPECT_TRUE(has_part(r, "routes.b.tools.allow[0]: empty name (use \"*\" for every name)"));
  EXPECT_TRUE(has_part(r, "routes.b.tools.permit: unknown key \"permit\"; allowed keys: allow, deny, dry_run"));
  EXPECT_TRUE(has_part(r, "routes.c.prompts.deny[0]: a condition on the caller that can never hold: the route has no auth.oauth"));
  EXPECT_TRUE(has_part(r, "routes.c.prompts.deny[1].name: missing required key \"name\""));
  EXPECT_TRUE(has_part(r, "routes.d.mcp: tools / prompts / resources rules and rate-limit keys tool / mcp_method need mcp: true"));
  EXPECT_TRUE(has_part(r, "routes.e.mcp: tools / prompts / resources rules"));
}

}  // namespace
}  // namespace mcpgate::config

namespace mcpgate::config {
namespace {

TEST(AuditConfig, OffUnlessWrittenAndEveryKeyRead) {
  const auto off = load_string("listeners: [{ address: \":8080\" }]\n", "t.yaml");
  ASSERT_TRUE(testing::loads(off));
  EXPECT_FALSE(off.snapshot->audit.enabled);
  const auto bare = load_string("listeners: [{ address: \":8080\" }]\naudit:\n", "t.yaml");
  ASSERT_TRUE(testing::loads(bare)) << testing::rendered(bare);
  EXPECT_TRUE(bare.snapshot->audit.enabled);
  EXPECT_EQ(bare.snapshot->audit.file, "");
  EXPECT_FALSE(bare.snapshot->audit.redact.empty());
  const auto full = load_string(R"(listeners: [{ address: ":8080" }]
audit: { file: /var/log/a.jsonl, log_arguments: true, max_argument_bytes: 1KiB, redact: [pin] }
)",
                                "t.yaml");
  ASSERT_TRUE(testing::loads(full)) << testing::rendered(full);
  EXPECT_EQ(full.snapshot->audit.file, "/var/log/a.jsonl");
  EXPECT_TRUE(full.snapshot->audit.log_arguments);
  EXPECT_EQ(full.snapshot->audit.max_argument_bytes, 1024u);
  EXPECT_EQ(full.snapshot->audit.redact, std::vector<std::string>{"pin"});
  EXPECT_NE(summarize(*full.snapshot).find("audit: /var/log/a.jsonl, arguments logged (max 1KiB)"), std::string::npos)
      << summarize(*full.snapshot);
  const auto bad = load_string(R"(listeners: [{ address: ":8080" }]
audit: { files: x, log_arguments: yes, max_argument_bytes: 2MiB, redact: token }
)",
                               "t.yaml");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(testing::has_part(bad, "audit.files: unknown key \"files\" (did you mean \"file\"?)")) << testing::rendered(bad);
  EXPECT_TRUE(testing::has_part(bad, "audit.log_arguments: expected a bool"));
  EXPECT_TRUE(testing::has_part(bad, "audit.max_argument_bytes: size \"2MiB\" is too large (at most 1MiB)"));
  EXPECT_TRUE(testing::has_part(bad, "audit.redact: expected a list of key words"));
}

}  // namespace
}  // namespace mcpgate::config
