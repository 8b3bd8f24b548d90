// Several upstreams per route: which instance takes a new session (least busy fit one),
// health from checks and failed dials, and the authenticated session ids that bind a
// session to its instance.
#include <gtest/gtest.h>

#include "http/upstream_set.hpp"
#include "mcp/session_affinity.hpp"

namespace mcpgate::http {
namespace {

const std::string key(32, 'k');

TEST(SessionAffinity, RoundTripsAndRejectsForgeries) {
  const auto token = mcp::encode_affine_session(key, "http://10.0.0.5:3001", "3f2a-uuid");
  EXPECT_EQ(token.rfind("mg1.", 0), 0u);
  for (char c : token) EXPECT_TRUE(c >= 0x21 && c <= 0x7e) << token;  // visible ASCII, as MCP requires
  const auto back = mcp::decode_affine_session(key, token);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->instance, "http://10.0.0.5:3001");
  EXPECT_EQ(back->upstream_session, "3f2a-uuid");

  EXPECT_FALSE(mcp::decode_affine_session(std::string(32, 'x'), token));  // another key
  // A client pointing its session at another instance: the MAC no longer matches.
  const auto other = mcp::encode_affine_session(key, "http://10.0.0.6:3001", "3f2a-uuid");
  const auto instance_part = [](const std::string& t) { return t.substr(0, t.find('.', 4)); };
  const auto rest = [](const std::string& t) { return t.substr(t.find('.', 4)); };
  EXPECT_FALSE(mcp::decode_affine_session(key, instance_part(other) + rest(token)));
  EXPECT_FALSE(mcp::decode_affine_session(key, instance_part(token) + rest(other)));
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(mcp::decode_affine_session(key, flipped));
  for (const char* junk : {"", "mg1.", "mg1...", "plain-upstream-session", "mg1.a.b", "mg1.a.b.c.d", "mg1.@@.b.c"}) {
    EXPECT_FALSE(mcp::decode_affine_session(key, junk)) << junk;
  }
  EXPECT_FALSE(mcp::decode_affine_session(key, "mg1." + std::string(10000, 'A') + ".b.c"));  // bounded
  // Empty fields are still authenticated values.
  EXPECT_TRUE(mcp::decode_affine_session(key, mcp::encode_affine_session(key, "", "")));
  EXPECT_NE(mcp::random_affinity_key(), mcp::random_affinity_key());
}

TEST(UpstreamSet, NewSessionsGoToTheLeastBusyFitInstance) {
  upstream_set set(3);
  set.begin(0);
  set.begin(0);
  set.begin(2);
  EXPECT_EQ(set.pick(), 1u);
  set.begin(1);
  set.begin(1);
  EXPECT_EQ(set.pick(), 2u);
  // Ties rotate: with equal loads, successive picks spread over the instances.
  upstream_set even(2);
  const auto a = even.pick();
  const auto b = even.pick();
  EXPECT_NE(a, b);
}

TEST(UpstreamSet, AFailedDialKeepsNewSessionsAwayForACooldown) {
  upstream_set set(2);
  const auto now = upstream_set::clock::now();
  set.begin(1);  // 1 is busier, 0 would win...
  set.dial_failed(0, now);
  EXPECT_FALSE(set.fit(0, now));
  EXPECT_EQ(set.pick(now), 1u);  // ...but just failed
  EXPECT_TRUE(set.fit(0, now + upstream_set::passive_cooldown));
  EXPECT_EQ(set.pick(now + upstream_set::passive_cooldown), 0u);
}

TEST(UpstreamSet, HealthChecksNeedConsecutiveResultsToFlip) {
  upstream_set set(2);
  config::health_check rule;
  rule.unhealthy_after = 2;
  rule.healthy_after = 2;
  EXPECT_EQ(set.record_check(0, false, rule), std::nullopt);
  EXPECT_EQ(set.record_check(0, true, rule), std::nullopt);  // the run of failures restarts
  EXPECT_EQ(set.record_check(0, false, rule), std::nullopt);
  EXPECT_EQ(set.record_check(0, false, rule), false);
  EXPECT_FALSE(set.healthy(0));
  EXPECT_EQ(set.pick(), 1u);
  set.begin(1);
  set.begin(1);
  EXPECT_EQ(set.pick(), 1u);  // busy, but the only healthy one
  EXPECT_EQ(set.record_check(0, true, rule), std::nullopt);
  EXPECT_EQ(set.record_check(0, true, rule), true);
  EXPECT_EQ(set.pick(), 0u);
  // None fit: the least busy is tried anyway (it may be back before the checks notice).
  EXPECT_EQ(set.record_check(0, false, rule), std::nullopt);
  EXPECT_EQ(set.record_check(0, false, rule), false);
  EXPECT_EQ(set.record_check(1, false, rule), std::nullopt);
  EXPECT_EQ(set.record_check(1, false, rule), false);
  EXPECT_EQ(set.pick(), 0u);
}

}  // namespace
}  // namespace mcpgate::http
