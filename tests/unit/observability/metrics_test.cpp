// The data path's counters: histogram buckets, outcome classification, bounded label sets,
// merging workers' copies, and the Prometheus text the exposition writes.
#include <gtest/gtest.h>

#include "observability/metrics.hpp"

namespace mcpgate::observability {
namespace {

using namespace std::chrono_literals;

access_record exchange(std::string route, unsigned status, std::string reason = {}) {
  access_record r;
  r.route = std::move(route);
  r.status = status;
  r.reason = std::move(reason);
  r.client = "203.0.113.9";
  r.duration = 3ms;
  r.bytes_in = 10;
  r.bytes_out = 20;
  return r;
}

TEST(Metrics, HistogramBucketsAreUpperBoundsInclusive) {
  latency_histogram h;
  h.observe(500us);    // exactly the first bound: in the first bucket
  h.observe(501us);    // just over: the second
  h.observe(2h);       // above every bound
  h.observe(-5us);     // a clock step backwards counts as zero
  EXPECT_EQ(h.buckets[0], 2u);
  EXPECT_EQ(h.buckets[1], 1u);
  EXPECT_EQ(h.buckets.back(), 1u);
  EXPECT_EQ(h.count, 4u);
  EXPECT_EQ(h.sum_us, 500u + 501u + 7'200'000'000u);
}

TEST(Metrics, OutcomesAreClassifiedAsDenialsAndErrors) {
  EXPECT_TRUE(is_denial("ip_denied"));
  EXPECT_TRUE(is_denial("auth_invalid_token"));
  EXPECT_TRUE(is_denial("rate_limited"));
  EXPECT_FALSE(is_denial("auth_keys_unavailable"));  // the gateway's trouble, not the caller's
  EXPECT_FALSE(is_denial("auth_introspection_unavailable"));
  EXPECT_FALSE(is_denial(""));
  EXPECT_TRUE(is_error(502, "upstream_connect_failed"));
  EXPECT_TRUE(is_error(200, "upstream_reset"));  // cut after the header went out
  EXPECT_FALSE(is_error(200, "client_disconnected"));
  EXPECT_FALSE(is_error(403, "ip_denied"));
  EXPECT_EQ(status_class(0), "none");
  EXPECT_EQ(status_class(204), "2xx");
  EXPECT_EQ(method_label("tools/call"), "tools/call");
  EXPECT_EQ(method_label("tools/call+"), "tools/call");  // a batch
  EXPECT_EQ(method_label("x/made_up_by_a_client"), "other");
}

TEST(Metrics, ExchangesAreCountedByRouteClassAndReason) {
  worker_metrics m;
  m.record_exchange(exchange("echo", 200), 2ms);
  m.record_exchange(exchange("echo", 200), 1ms);
  m.record_exchange(exchange("echo", 403, "ip_denied"), std::nullopt);
  m.record_exchange(exchange("echo", 502, "upstream_connect_failed"), std::nullopt);
  const auto& r = m.routes.at("echo");
  ASSERT_EQ(r.outcomes.size(), 3u);
  EXPECT_EQ(r.outcomes[0].count, 2u);
  EXPECT_EQ(r.outcomes[1].reason, "ip_denied");
  EXPECT_EQ(r.duration.count, 4u);
  EXPECT_EQ(r.upstream_header.count, 2u);
  EXPECT_EQ(r.errors, 1u);
  EXPECT_EQ(r.denied, 1u);
  EXPECT_EQ(r.bytes_out, 80u);
  EXPECT_EQ(m.running_totals().requests.load(), 4u);
  EXPECT_EQ(m.running_totals().errors.load(), 1u);
  EXPECT_EQ(m.running_totals().denied.load(), 1u);
  ASSERT_EQ(m.denials.size(), 1u);
  EXPECT_EQ(m.denials[0].client, "203.0.113.9");
}

TEST(Metrics, ClientChosenNamesAreBoundedPerRoute) {
  worker_metrics m;
  for (std::size_t i = 0; i < worker_metrics::max_names_per_route + 50; ++i) {
    auto r = exchange("files", 200);
    r.mcp_method = "tools/call";
    r.mcp_name = "tool_" + std::to_string(i);
    m.record_exchange(r, 1ms);
  }
  auto again = exchange("files", 200);
  again.mcp_method = "tools/call";
  again.mcp_name = "tool_0";  // already counted: keeps its own series
  m.record_exchange(again, 1ms);
  const auto& mcp = m.routes.at("files").mcp;
  EXPECT_EQ(mcp.size(), worker_metrics::max_names_per_route + 1);  // 100 names + "other"
  EXPECT_EQ(mcp.at("tools/call\nother"), 50u);
  EXPECT_EQ(mcp.at("tools/call\ntool_0"), 2u);
}

TEST(Metrics, RecentDenialsAreBoundedAndMergedNewestFirst) {
  worker_metrics a, b;
  for (std::size_t i = 0; i < worker_metrics::recent_denials + 10; ++i) a.record_connection_refusal(exchange("", 0, "listener_full"));
  b.record_exchange(exchange("echo", 429, "rate_limited"), std::nullopt);
  EXPECT_EQ(a.denials.size(), worker_metrics::recent_denials);
  EXPECT_EQ(a.connection_refusals.at("listener_full"), worker_metrics::recent_denials + 10);
  const auto merged = merge_denials({&a.denials, &b.denials}, 5);
  ASSERT_EQ(merged.size(), 5u);
  EXPECT_EQ(merged[0].reason, "rate_limited");  // b's came last
  for (std::size_t i = 1; i < merged.size(); ++i) EXPECT_GE(merged[i - 1].time, merged[i].time);
}

TEST(Metrics, WorkersCopiesAddUp) {
  worker_metrics a, b;
  a.record_exchange(exchange("echo", 200), 1ms);
  b.record_exchange(exchange("echo", 200), 1ms);
  b.record_exchange(exchange("other", 500, "upstream_reset"), 1ms);
  b.sse_started();
  worker_metrics total;
  total.add(worker_metrics(a));
  total.add(worker_metrics(b));
  EXPECT_EQ(total.routes.at("echo").outcomes.at(0).count, 2u);
  EXPECT_EQ(total.routes.at("echo").duration.count, 2u);
  EXPECT_EQ(total.routes.at("other").errors, 1u);
  EXPECT_EQ(total.sse_streams, 1);
}

TEST(Metrics, ExpositionEscapesLabelValuesAndWritesCumulativeBuckets) {
  exposition out;
  out.family("t_total", "counter", "A test.");
  out.sample("t_total", {{"route", "a\"b\\c\nd"}}, std::uint64_t{3});
  latency_histogram h;
  h.observe(400us);
  h.observe(2s);
  out.family("t_seconds", "histogram", "Latency.");
  out.histogram("t_seconds", "route", "r", h);
  const auto text = out.take();
  EXPECT_NE(text.find("# HELP t_total A test.\n# TYPE t_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("t_total{route=\"a\\\"b\\\\c\\nd\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{route=\"r\",le=\"0.0005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{route=\"r\",le=\"2.5\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{route=\"r\",le=\"+Inf\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_count{route=\"r\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_sum{route=\"r\"} 2.0004\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace mcpgate::observability
