// Token buckets (GCRA) of route rate limits, with an injected clock.
#include "http/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <thread>

#include "http/policy_state.hpp"

namespace mcpgate::http {
namespace {

using namespace std::chrono_literals;
using time_point = rate_limiter::time_point;

config::rate_limit spec(std::uint32_t requests, config::duration per, std::uint32_t burst) {
  config::rate_limit out;
  out.requests = requests;
  out.per = per;
  out.burst = burst;
  out.where = "routes.t.rate_limit";
  return out;
}

net::ip_bytes ip(const char* text) { return net::to_bytes(boost::asio::ip::make_address(text)); }

const time_point t0 = time_point(std::chrono::hours(1000));

TEST(RateLimiter, BurstThenRefusedWithTheTimeToWaitThenRefilled) {
  rate_limiter limiter(spec(10, 1s, 3));  // one token per 100 ms, 3 at once
  const auto key = *limiter.key_for(ip("198.51.100.7"));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.take(key, t0).admitted) << i;
  const auto refused = limiter.take(key, t0);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after, 100ms);
  EXPECT_FALSE(limiter.take(key, t0 + 99ms).admitted);  // a refusal takes no token ...
  EXPECT_TRUE(limiter.take(key, t0 + 100ms).admitted);  // ... so one interval later one is back
  EXPECT_FALSE(limiter.take(key, t0 + 100ms).admitted);
  // Idle for long: the bucket is full again, but never fuller than burst.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.take(key, t0 + 10s).admitted) << i;
  EXPECT_FALSE(limiter.take(key, t0 + 10s).admitted);
}

TEST(RateLimiter, SustainedRateIsRequestsPerPeriod) {
  rate_limiter limiter(spec(5, 1s, 1));
  const auto key = *limiter.key_for(ip("198.51.100.7"));
  int admitted = 0;
  for (auto t = 0ms; t < 10s; t += 10ms) admitted += limiter.take(key, t0 + t).admitted ? 1 : 0;
  EXPECT_EQ(admitted, 50);
}

TEST(RateLimiter, ClientsHaveTheirOwnBucketsAndIpv6CountsByNetwork) {
  rate_limiter limiter(spec(1, 1s, 1));
  EXPECT_TRUE(limiter.take(*limiter.key_for(ip("198.51.100.7")), t0).admitted);
  EXPECT_FALSE(limiter.take(*limiter.key_for(ip("198.51.100.7")), t0).admitted);
  EXPECT_TRUE(limiter.take(*limiter.key_for(ip("198.51.100.8")), t0).admitted);
  EXPECT_TRUE(limiter.take(*limiter.key_for(ip("2001:db8:0:1::1")), t0).admitted);
  EXPECT_FALSE(limiter.take(*limiter.key_for(ip("2001:db8:0:1:ffff::2")), t0).admitted);  // same /64
  EXPECT_TRUE(limiter.take(*limiter.key_for(ip("2001:db8:0:2::1")), t0).admitted);
  // IPv4 as a dual-stack socket reports it is the same client.
  EXPECT_FALSE(limiter.take(*limiter.key_for(ip("::ffff:198.51.100.8")), t0).admitted);
}

TEST(RateLimiter, RouteKeyIsOneBucketForEveryone) {
  auto s = spec(1, 1s, 2);
  s.key = {config::rate_limit::key_part::route};
  rate_limiter limiter(s);
  EXPECT_EQ(*limiter.key_for(ip("198.51.100.7")), *limiter.key_for(ip("2001:db8::1")));
  EXPECT_TRUE(limiter.take(*limiter.key_for(ip("198.51.100.7")), t0).admitted);
  EXPECT_TRUE(limiter.take(*limiter.key_for(ip("198.51.100.8")), t0).admitted);
  EXPECT_FALSE(limiter.take(*limiter.key_for(ip("2001:db8::1")), t0).admitted);
}

TEST(RateLimiter, AddressChurnNeitherGrowsMemoryNorBuysRequests) {
  auto s = spec(1, 1min, 1);
  s.max_keys = 160;
  rate_limiter limiter(s);
  int admitted = 0;
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    net::ip_bytes address = ip("10.0.0.0");
    address[13] = static_cast<std::uint8_t>(i >> 16);
    address[14] = static_cast<std::uint8_t>(i >> 8);
    address[15] = static_cast<std::uint8_t>(i);
    admitted += limiter.take(*limiter.key_for(address), t0 + std::chrono::milliseconds(i)).admitted ? 1 : 0;
  }
  EXPECT_LE(limiter.tracked_keys(), 160u);
  // Each tracked key got its one request; the rest shared one bucket (1 per minute, and
  // 20 s passed), instead of 20,000 fresh buckets.
  EXPECT_LE(admitted, 160 + 1);
  EXPECT_GE(admitted, 100);  // most shards filled up before overflowing
  // Once the tracked buckets are full again they are forgotten and new clients get theirs.
  const auto later = t0 + 2min;
  EXPECT_TRUE(limiter.take(*limiter.key_for(ip("192.0.2.1")), later).admitted);
  EXPECT_LE(limiter.tracked_keys(), 160u);
}

TEST(RateLimiter, WorkersSharingALimiterNeverAdmitMoreThanTheBurst) {
  rate_limiter limiter(spec(1, 1h, 500));
  const auto key = *limiter.key_for(ip("198.51.100.7"));
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) admitted += limiter.take(key, t0).admitted ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 500);
}

TEST(PolicyState, LimitersSurviveASnapshotOnlyWhileTheirRuleIsUnchanged) {
  policy_state state;
  const auto s = spec(1, 1s, 1);
  auto first = state.limiter(s);
  EXPECT_EQ(state.limiter(s), first);  // a reload with the same rule keeps the buckets
  auto changed = s;
  changed.requests = 2;
  EXPECT_NE(state.limiter(changed), first);
  ++state.counter("routes.t.allow")->refused;
  ++state.counter("routes.t.allow")->dry_run;
  const auto counts = state.decision_counts();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].rule, "routes.t.allow");
  EXPECT_EQ(counts[0].refused, 1u);
  EXPECT_EQ(counts[0].dry_run, 1u);
}

}  // namespace
}  // namespace mcpgate::http
