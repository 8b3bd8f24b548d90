// Limits through the gateway: route rate limits (429 + Retry-After, JSON-RPC body on MCP
// routes, per client behind a trusted proxy, dry run, kept across reloads), per-route size
// limits, and connections per client.
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/wait.hpp"

namespace mcpgate::test {
namespace {

using namespace std::chrono_literals;

// A plain listener and two routes: /mcp (with `mcp_extra`) and /other (with `other_extra`).
std::string limits_config(std::uint16_t upstream_port, const std::string& mcp_extra, const std::string& other_extra = {},
                          const std::string& top_extra = {}) {
  return fmt::format(R"(
listeners: [{{ address: "127.0.0.1:0" }}]
routes:
  "*":
    - {{ path: /mcp, upstream: "http://127.0.0.1:{0}" {1} }}
    - {{ path: /other, upstream: "http://127.0.0.1:{0}" {2} }}
upstream:
  allowed_ips: [127.0.0.0/8]
{3}
)",
                     upstream_port, mcp_extra, other_extra, top_extra);
}

http::request<http::string_body> post_to(const char* target, std::string body = "{}") {
  auto req = mcp_post(std::move(body));
  req.target(target);
  return req;
}

TEST(RateLimits, OverTheBucketIs429WithRetryAfterAndAJsonRpcError) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(limits_config(upstream.port(), ", rate_limit: { requests: 1, per: 1h, burst: 2 }"));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  EXPECT_EQ(client.request(mcp_post("{}")).result_int(), 200);
  EXPECT_EQ(client.request(mcp_post("{}")).result_int(), 200);
  const auto refused = client.request(mcp_post("{}"));  // same connection: kept alive
  EXPECT_EQ(refused.result_int(), 429);
  const auto retry_after = std::stoul(std::string(refused[http::field::retry_after]));
  EXPECT_GT(retry_after, 3500u);  // one token per hour, rounded up to whole seconds
  EXPECT_LE(retry_after, 3600u);
  EXPECT_EQ(refused[http::field::content_type], "application/json");
  const auto body = boost::json::parse(refused.body()).as_object();
  EXPECT_EQ(body.at("jsonrpc"), "2.0");
  EXPECT_TRUE(body.at("id").is_null());
  EXPECT_EQ(body.at("error").at("code"), -32000);
  EXPECT_EQ(body.at("error").at("message"), "Rate limit exceeded");
  EXPECT_EQ(body.at("error").at("data").at("reason"), "rate_limited");
  EXPECT_EQ(body.at("error").at("data").at("retry_after").to_number<std::uint64_t>(), retry_after);
  EXPECT_EQ(client.request(post_to("/other")).result_int(), 200);  // another route, its own (no) limit
  EXPECT_EQ(seen->size(), 3u);
  EXPECT_EQ(gw.decisions("routes.*[0].rate_limit").refused, 1u);
}

TEST(RateLimits, ClientsBehindATrustedProxyHaveTheirOwnBuckets) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(limits_config(upstream.port(), ", rate_limit: { requests: 1, per: 1h }", "",
                                   "trusted_proxies: [127.0.0.1]"));
  http_test_client proxy;  // one reverse-proxy connection carrying several clients
  proxy.connect("127.0.0.1", gw.port());
  auto from = [&](const char* client) {
    auto req = mcp_post("{}");
    req.set("X-Forwarded-For", client);
    return proxy.request(req).result_int();
  };
  EXPECT_EQ(from("198.51.100.7"), 200u);
  EXPECT_EQ(from("198.51.100.7"), 429u);
  EXPECT_EQ(from("198.51.100.8"), 200u);
  EXPECT_EQ(from("2001:db8:0:1::1"), 200u);
  EXPECT_EQ(from("2001:db8:0:1::2"), 429u);  // same /64: same client
}

TEST(RateLimits, RouteKeySharesOneBucketAndANonMcpRouteAnswersInText) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(limits_config(upstream.port(), "", ", mcp: false, rate_limit: { requests: 1, per: 1h, key: route }",
                                   "trusted_proxies: [127.0.0.1]"));
  http_test_client proxy;
  proxy.connect("127.0.0.1", gw.port());
  auto req = post_to("/other");
  req.set("X-Forwarded-For", "198.51.100.7");
  EXPECT_EQ(proxy.request(req).result_int(), 200);
  req.set("X-Forwarded-For", "198.51.100.8");
  const auto refused = proxy.request(req);
  EXPECT_EQ(refused.result_int(), 429);
  EXPECT_EQ(refused.body(), "Rate limit exceeded\n");
  EXPECT_FALSE(refused[http::field::retry_after].empty());
}

TEST(RateLimits, DryRunCountsButRefusesNothing) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(limits_config(upstream.port(), ", rate_limit: { requests: 1, per: 1h, dry_run: true }"));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(client.request(mcp_post("{}")).result_int(), 200) << i;
  EXPECT_EQ(gw.decisions("routes.*[0].rate_limit").dry_run, 3u);
  EXPECT_EQ(gw.decisions("routes.*[0].rate_limit").refused, 0u);
}

TEST(RateLimits, BucketsSurviveAReloadThatKeepsTheRule) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  const auto limited = limits_config(upstream.port(), ", rate_limit: { requests: 1, per: 1h }");
  gateway_harness gw(limited);
  auto status = [&] {
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    return client.request(mcp_post("{}")).result_int();
  };
  EXPECT_EQ(status(), 200u);
  EXPECT_EQ(status(), 429u);
  std::string error;
  ASSERT_TRUE(gw.reload(limited, error)) << error;
  EXPECT_EQ(status(), 429u);  // a reload is not a way around the limit
  ASSERT_TRUE(gw.reload(limits_config(upstream.port(), ", rate_limit: { requests: 2, per: 1h }"), error)) << error;
  EXPECT_EQ(status(), 200u);  // a changed rule starts with full buckets
}

TEST(RouteLimits, EachRouteHasItsOwnBodyAndHeaderLimit) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(limits_config(upstream.port(), ", limits: { max_request_body_bytes: 1KiB, max_request_header_bytes: 1KiB }",
                                   ", limits: { max_request_body_bytes: 64KiB }",
                                   "limits: { max_request_body_bytes: 16KiB }"));
  auto send = [&](http::request<http::string_body> req) {
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    return client.request(std::move(req));
  };
  auto json_string = [](std::size_t size) { return '"' + std::string(size - 2, 'x') + '"'; };
  const auto too_big = send(post_to("/mcp", json_string(2048)));
  EXPECT_EQ(too_big.result_int(), 413);
  EXPECT_EQ(boost::json::parse(too_big.body()).at("error").at("data").at("reason"), "body_too_large");
  EXPECT_EQ(send(post_to("/other", json_string(32 * 1024))).result_int(), 200);  // over the top-level 16KiB
  EXPECT_EQ(send(post_to("/other", json_string(65 * 1024))).result_int(), 413);
  auto big_header = post_to("/mcp");
  big_header.set("X-Padding", std::string(2048, 'p'));
  const auto header_refused = send(big_header);
  EXPECT_EQ(header_refused.result_int(), 431);
  EXPECT_EQ(boost::json::parse(header_refused.body()).at("error").at("data").at("reason"), "request_header_too_large");
  auto other_big_header = post_to("/other");
  other_big_header.set("X-Padding", std::string(2048, 'p'));
  EXPECT_EQ(send(other_big_header).result_int(), 200);
  // A chunked body has no length to refuse up front: the limit cuts it while it streams.
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  client.send_raw("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
                  std::string(2048, 'x') + "\r\n0\r\n\r\n");
  EXPECT_EQ(client.read_response().result_int(), 413);
  EXPECT_EQ(seen->size(), 2u);
}

TEST(ConnectionLimits, PerClientLimitClosesTheClientsExtraConnectionsOnly) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(fmt::format(R"(
listeners: [{{ address: "127.0.0.1:0", proxy_protocol: true, max_connections_per_client: 2 }}]
routes:
  "*": "http://127.0.0.1:{}"
upstream:
  allowed_ips: [127.0.0.0/8]
)",
                                 upstream.port()));
  // The load balancer's PROXY header names the client of each connection.
  auto open_as = [&](http_test_client& client, const char* source) {
    client.connect("127.0.0.1", gw.port());
    client.send_raw(fmt::format("PROXY TCP4 {} 10.0.0.1 51234 443\r\n", source));
  };
  http_test_client a1, a2, b1;
  open_as(a1, "198.51.100.7");
  open_as(a2, "198.51.100.7");
  EXPECT_EQ(a1.request(mcp_post("{}")).result_int(), 200);
  EXPECT_EQ(a2.request(mcp_post("{}")).result_int(), 200);
  {
    http_test_client a3(3s);
    open_as(a3, "198.51.100.7");
    EXPECT_TRUE(a3.wait_closed());
  }
  open_as(b1, "198.51.100.8");
  EXPECT_EQ(b1.request(mcp_post("{}")).result_int(), 200);  // another client is not affected
  EXPECT_EQ(a1.request(mcp_post("{}")).result_int(), 200);  // nor the client's open ones
  EXPECT_EQ(gw.decisions("listeners[0].max_connections_per_client").refused, 1u);
  a2.close();  // a slot is free again once the gateway sees the close
  EXPECT_TRUE(wait_until([&] {
    try {
      http_test_client again(1s);
      open_as(again, "198.51.100.7");
      return again.request(mcp_post("{}")).result_int() == 200;
    } catch (const boost::system::system_error&) {
      return false;
    }
  }));
}

}  // namespace
}  // namespace mcpgate::test
