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
  EXPECT_TRUE(has_part(r, "routes.c.prompts.deny[0].scope: unknown key \"scope\"; allowed keys: name"));
  EXPECT_TRUE(has_part(r, "routes.c.prompts.deny[1].name: missing required key \"name\""));
  EXPECT_TRUE(has_part(r, "routes.d.mcp: tools / prompts / resources rules and rate-limit keys tool / mcp_method need mcp: true"));
  EXPECT_TRUE(has_part(r, "routes.e.mcp: tools / prompts / resources rules"));
}

}  // namespace
}  // namespace mcpgate::config
