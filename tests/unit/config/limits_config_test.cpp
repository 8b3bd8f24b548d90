// Route rate limits, route size limits, `mcp` and per-client connection limits as the
// loader reads them.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "config_test_util.hpp"

namespace mcpgate::config {
namespace {

using testing::has;
using testing::has_part;
using testing::loads;

load_result load(std::string_view yaml) { return load_string(yaml, "t.yaml"); }

TEST(RateLimitConfig, OneLimitOrAListWithDefaults) {
  const auto r = load(R"(listeners: [{ address: ":8080", max_connections_per_client: 8 }]
routes:
  a: { upstream: "http://10.0.0.5:1", rate_limit: { requests: 10, per: 1s } }
  b:
    upstream: "http://10.0.0.6:1"
    mcp: false
    limits: { max_request_body_bytes: 64MiB, max_request_header_bytes: 4KiB }
    rate_limit:
      - { requests: 60, per: 1m, burst: 5, key: client_ip, ipv6_prefix: 56, max_keys: 1000, dry_run: true }
      - { requests: 1000, per: 1m, key: route }
)");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& cfg = *r.snapshot;
  EXPECT_EQ(cfg.listeners[0].max_connections_per_client, 8u);
  const auto& a = cfg.routes[0];
  ASSERT_EQ(a.rate_limits.size(), 1u);
  EXPECT_EQ(a.rate_limits[0].requests, 10u);
  EXPECT_EQ(a.rate_limits[0].burst, 10u);  // defaults to requests
  EXPECT_EQ(a.rate_limits[0].key, std::vector<rate_limit::key_part>{rate_limit::key_part::client_ip});
  EXPECT_EQ(a.rate_limits[0].ipv6_prefix, 64u);
  EXPECT_EQ(a.rate_limits[0].where, "routes.a.rate_limit");
  EXPECT_TRUE(a.mcp);
  EXPECT_FALSE(a.limits.max_request_body_bytes.has_value());
  const auto& b = cfg.routes[1];
  EXPECT_FALSE(b.mcp);
  EXPECT_EQ(b.limits.max_request_body_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(b.limits.max_request_header_bytes, 4096u);
  ASSERT_EQ(b.rate_limits.size(), 2u);
  EXPECT_EQ(b.rate_limits[0].per, std::chrono::minutes(1));
  EXPECT_EQ(b.rate_limits[0].burst, 5u);
  EXPECT_EQ(b.rate_limits[0].ipv6_prefix, 56u);
  EXPECT_EQ(b.rate_limits[0].max_keys, 1000u);
  EXPECT_TRUE(b.rate_limits[0].dry_run);
  EXPECT_EQ(b.rate_limits[0].where, "routes.b.rate_limit[0]");
  EXPECT_EQ(b.rate_limits[1].key, std::vector<rate_limit::key_part>{rate_limit::key_part::route});
  EXPECT_EQ(b.rate_limits[1].where, "routes.b.rate_limit[1]");
  const auto text = summarize(cfg);
  EXPECT_NE(text.find("rate_limit 10/1s burst 10 key client_ip"), std::string::npos) << text;
  EXPECT_NE(text.find("rate_limit 60/1m burst 5 key client_ip (dry run) rate_limit 1000/1m burst 1000 key route"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("body limit 64MiB (not mcp)"), std::string::npos) << text;
  EXPECT_NE(text.find("max_connections_per_client 8"), std::string::npos) << text;
}

TEST(RateLimitConfig, MistakesAreErrorsWithTheirPlace) {
  const auto r = load(R"(listeners: [{ address: ":8080", max_connections_per_client: -1 }]
routes:
  a: { upstream: "http://10.0.0.5:1", rate_limit: { per: 1s } }
  b: { upstream: "http://10.0.0.5:1", rate_limit: { requests: 0, per: 0s, key: user, burst: many } }
  c: { upstream: "http://10.0.0.5:1", rate_limit: [], mcp: yes }
  d: { upstream: "http://10.0.0.5:1", rate_limit: [{ requests: 1, rate: 2 }], limits: { max_body: 1 } }
  e: { upstream: "http://10.0.0.5:1", rate_limit: { requests: 1, key: [client_ip, who], ipv4_prefix: 33 } }
)");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_part(r, "t.yaml:1:61: error: listeners[0].max_connections_per_client: expected an integer 0..10000000"))
      << testing::rendered(r);
  EXPECT_TRUE(has(r, "t.yaml:3:51: error: routes.a.rate_limit.requests: missing required key \"requests\" (e.g. "
                     "rate_limit: { requests: 10, per: 1s })"));
  EXPECT_TRUE(has_part(r, "routes.b.rate_limit.requests: expected an integer 1..1000000000, got \"0\""));
  EXPECT_TRUE(has(r, "t.yaml:4:71: error: routes.b.rate_limit.per: the period must be longer than 0 (e.g. 1s, 1m)"));
  EXPECT_TRUE(has(r, "t.yaml:4:80: error: routes.b.rate_limit.key: invalid rate limit key \"user\" (expected one of: "
                     "client_ip, route, tool, mcp_method, caller)"));
  EXPECT_TRUE(has_part(r, "routes.b.rate_limit.burst: expected an integer 1..1000000000, got \"many\""));
  EXPECT_TRUE(has_part(r, "routes.c.rate_limit: expected a rate limit { requests, per, burst, key } or a non-empty list"));
  EXPECT_TRUE(has_part(r, "routes.c.mcp: expected a bool (true or false), got \"yes\""));
  EXPECT_TRUE(has_part(r, "routes.d.rate_limit[0].rate: unknown key \"rate\"; allowed keys: requests, per, burst, key, "
                          "ipv4_prefix, ipv6_prefix, max_keys, dry_run"));
  EXPECT_TRUE(has_part(r, "routes.d.limits.max_body: unknown key \"max_body\"; allowed keys: max_request_header_bytes, "
                          "max_request_body_bytes"));
  EXPECT_TRUE(has_part(r, "routes.e.rate_limit.key[1]: invalid rate limit key \"who\""));
  EXPECT_TRUE(has_part(r, "routes.e.rate_limit.ipv4_prefix: expected an integer 1..32, got \"33\""));
}

}  // namespace
}  // namespace mcpgate::config
