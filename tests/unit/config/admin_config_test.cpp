// `admin:` as the loader reads it: defaults, a bearer key stored as its hash, and the rule
// that an admin listener reachable beyond this host needs an allow list or a key.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "config_test_util.hpp"

namespace mcpgate::config {
namespace {

using testing::has;
using testing::has_part;
using testing::loads;

TEST(AdminConfig, AloneMeansLoopbackWithMetrics) {
  const auto r = load_string("listeners: [{ address: \":8080\" }]\nroutes: { a: { upstream: \"http://10.0.0.5:1\" } }\nadmin:\n", "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& admin = r.snapshot->admin;
  EXPECT_TRUE(admin.enabled);
  EXPECT_EQ(admin.listen.address, "127.0.0.1:9901");
  EXPECT_TRUE(admin.metrics);
  EXPECT_TRUE(r.snapshot->counting());
  EXPECT_EQ(r.snapshot->sha256.size(), 64u);
}

TEST(AdminConfig, WithoutTheSectionNothingIsCounted) {
  const auto r = load_string("listeners: [{ address: \":8080\" }]\nroutes: { a: { upstream: \"http://10.0.0.5:1\" } }\n", "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  EXPECT_FALSE(r.snapshot->admin.enabled);
  EXPECT_FALSE(r.snapshot->counting());
}

TEST(AdminConfig, KeysAllowListAndMetricsAreRead) {
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes: { a: { upstream: "http://10.0.0.5:1" } }
admin:
  listen: 0.0.0.0:9901
  allow: [10.0.0.0/8]
  key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  metrics: false
)",
                             "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& admin = r.snapshot->admin;
  EXPECT_EQ(admin.listen.bind_host, "0.0.0.0");
  ASSERT_EQ(admin.allow.size(), 1u);
  ASSERT_TRUE(admin.key_sha256);
  EXPECT_EQ((*admin.key_sha256)[0], 0x9f);
  EXPECT_FALSE(r.snapshot->counting());
}

TEST(AdminConfig, MistakesAreErrorsWithTheirPlace) {
  const auto open = load_string(R"(listeners: [{ address: ":8080" }]
routes: { a: { upstream: "http://10.0.0.5:1" } }
admin:
  listen: 0.0.0.0:9901
)",
                                "t.yaml");
  EXPECT_FALSE(loads(open));
  EXPECT_TRUE(has_part(open, "t.yaml:4:11: error: admin.listen: the admin listener on \"0.0.0.0:9901\" is reachable "
                             "beyond this host"));
  const auto bad = load_string(R"(listeners: [{ address: ":8080" }]
routes: { a: { upstream: "http://10.0.0.5:1" } }
admin:
  key_sha256: abc
  metric: true
  allow: 10.0.0.0/8
)",
                               "t.yaml");
  EXPECT_FALSE(loads(bad));
  EXPECT_TRUE(has_part(bad, "t.yaml:4:15: error: admin.key_sha256: expected the admin key's SHA-256 as 64 hex digits"));
  EXPECT_TRUE(has_part(bad, "t.yaml:5:3: error: admin.metric: unknown key \"metric\""));
  EXPECT_TRUE(has_part(bad, "t.yaml:6:10: error: admin.allow: expected a list of IP prefixes"));
}

TEST(AdminConfig, TheEdgeHasOneToo) {
  const auto r = load_edge_string(R"(base_domain: t.example.com
tls: { cert_file: /etc/c.pem, key_file: /etc/k.pem }
admin: { listen: 127.0.0.1:9902 }
)",
                                  "edge.yaml");
  ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].to_string());
  EXPECT_TRUE(r.snapshot->admin.enabled);
  EXPECT_EQ(r.snapshot->admin.listen.port, 9902);
}

}  // namespace
}  // namespace mcpgate::config
