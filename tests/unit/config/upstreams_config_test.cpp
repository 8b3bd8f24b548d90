// Several upstreams per route, health checks and the session affinity key, as the loader
// reads them.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "config_test_util.hpp"

namespace mcpgate::config {
namespace {

using testing::has_part;
using testing::loads;

TEST(UpstreamsConfig, InstancesHealthChecksAndTheAffinityKeyAreRead) {
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  "*":
    - path: /mcp
      upstreams: ["http://10.0.0.5:3001", "http://10.0.0.6:3001"]
      health_check: { path: /healthz, interval: 2s, timeout: 500ms, unhealthy_after: 3, healthy_after: 2 }
    - { path: /one, upstream: "http://10.0.0.7:1" }
session_affinity: { key_file: /etc/mcpgate/affinity.key }
)",
                             "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& route = r.snapshot->routes[0];
  ASSERT_EQ(route.instances.size(), 2u);
  EXPECT_EQ(route.instances[1].to_string(), "http://10.0.0.6:3001");
  EXPECT_EQ(route.upstream.to_string(), "http://10.0.0.5:3001");  // the first, for what needs one
  EXPECT_TRUE(route.health.enabled);
  EXPECT_EQ(route.health.path, "/healthz");
  EXPECT_EQ(route.health.interval, std::chrono::seconds(2));
  EXPECT_EQ(route.health.timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(route.health.unhealthy_after, 3u);
  EXPECT_EQ(route.health.healthy_after, 2u);
  EXPECT_EQ(r.snapshot->routes[1].targets().size(), 1u);  // a single upstream is one instance
  EXPECT_FALSE(r.snapshot->routes[1].health.enabled);
  EXPECT_EQ(r.snapshot->session_affinity.key_file, "/etc/mcpgate/affinity.key");
  const auto text = summarize(*r.snapshot);
  EXPECT_NE(text.find("* /mcp -> [http://10.0.0.5:3001, http://10.0.0.6:3001] (least busy, session affinity) (connect"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("health check GET /healthz every 2s"), std::string::npos) << text;
}

TEST(UpstreamsConfig, MistakesAreErrorsWithTheirPlace) {
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  a: { upstream: "http://10.0.0.5:1", upstreams: ["http://10.0.0.5:2", "http://10.0.0.5:3"] }
  b: { upstreams: ["http://10.0.0.5:2"] }
  c: { upstreams: ["http://10.0.0.5:2", "http://10.0.0.5:2", "ftp://x:1"] }
  d: { upstream: "http://10.0.0.5:2", health_check: { path: healthz, interval: 0s, unhealthy_after: 0, every: 1s } }
  e: { upstream: "stdio:server", health_check: {} }
session_affinity: { key: abc }
)",
                             "t.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_part(r, "routes.a.upstreams: give upstream or upstreams, not both")) << testing::rendered(r);
  EXPECT_TRUE(has_part(r, "routes.b.upstreams: expected a list of at least two upstreams (scheme://host:port), got a list"
                          " (one instance: use upstream)"));
  EXPECT_TRUE(has_part(r, "routes.c.upstreams[1]: duplicate upstream \"http://10.0.0.5:2\""));
  EXPECT_TRUE(has_part(r, "routes.c.upstreams[2]: invalid upstream (must be scheme://host:port), got \"ftp://x:1\""));
  EXPECT_TRUE(has_part(r, "routes.d.health_check.path: invalid path \"healthz\""));
  EXPECT_TRUE(has_part(r, "routes.d.health_check.interval: must be greater than 0"));
  EXPECT_TRUE(has_part(r, "routes.d.health_check.unhealthy_after: expected an integer 1..100, got \"0\""));
  EXPECT_TRUE(has_part(r, "routes.d.health_check.every: unknown key \"every\"; allowed keys: path, interval, timeout, "
                          "unhealthy_after, healthy_after"));
  EXPECT_TRUE(has_part(r, "routes.e.health_check: a stdio server has no address to check"));
  EXPECT_TRUE(has_part(r, "session_affinity.key: unknown key \"key\"; allowed keys: key_file"));
}

}  // namespace
}  // namespace mcpgate::config
