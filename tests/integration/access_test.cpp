// Client-address rules through the gateway: route allow/deny with 403 or abort, dry run,
// listener rules before any byte (plain) or before TLS (ws, using the client address a
// trusted cloudflared reports), and an ip_sets entry that expires while the gateway runs.
#include <future>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "config/units.hpp"
#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/test_pki.hpp"
#include "support/wait.hpp"

namespace mcpgate::test {
namespace {

using namespace std::chrono_literals;

// One plain listener (with `listener_extra` keys) and a "*" route with `route_extra` keys.
std::string access_config(std::uint16_t upstream_port, const std::string& route_extra,
                          const std::string& listener_extra = {}, const std::string& extra = {}) {
  return fmt::format(R"(
listeners:
  - {{ address: "127.0.0.1:0" {} }}
ip_sets:
  loopback: [127.0.0.0/8]
  claude: [160.79.104.0/21]
routes:
  "*": {{ upstream: "http://127.0.0.1:{}" {} }}
upstream:
  allowed_ips: [127.0.0.0/8]
{}
)",
                     listener_extra, upstream_port, route_extra, extra);
}

unsigned status_of(std::uint16_t port) {
  http_test_client client;
  client.connect("127.0.0.1", port);
  return client.request(mcp_post("{}")).result_int();
}

TEST(Access, RouteAllowAdmitsItsSetAndRefusesOthersWith403) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  {
    gateway_harness gw(access_config(upstream.port(), ", allow: [loopback]"));
    EXPECT_EQ(status_of(gw.port()), 200u);
  }
  {
    gateway_harness gw(access_config(upstream.port(), ", allow: [claude, 10.0.0.0/8]"));
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    auto res = client.request(mcp_post("{}"));
    EXPECT_EQ(res.result_int(), 403);
    EXPECT_EQ(res[http::field::content_type], "application/json");  // an MCP route: a JSON-RPC error
    EXPECT_EQ(res.body(),
              R"({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Forbidden","data":{"reason":"ip_denied"}}})");
    EXPECT_EQ(gw.decisions("routes.*.allow").refused, 1u);
  }
  EXPECT_EQ(seen->size(), 1u);  // refused requests never reach the upstream
}

TEST(Access, DenyWinsOverAllowAndAbortClosesWithoutAResponse) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(access_config(upstream.port(), ", allow: [loopback], deny: [127.0.0.1], action: abort"));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  client.send(mcp_post("{}"));
  EXPECT_THROW(client.read_header(), boost::system::system_error);  // EOF, no status line
  EXPECT_EQ(upstream.connections_accepted(), 0);
}

TEST(Access, DryRunLetsEverythingThrough) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(access_config(upstream.port(), ", allow: [claude], dry_run: true"));
  EXPECT_EQ(status_of(gw.port()), 200u);
  EXPECT_EQ(gw.decisions("routes.*.allow").dry_run, 1u);  // counted as a would-be refusal
  EXPECT_EQ(gw.decisions("routes.*.allow").refused, 0u);
}

TEST(Access, ListenerRuleClosesTheConnectionBeforeAnyByte) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(access_config(upstream.port(), "", ", allow: [claude]"));
  http_test_client client(3s);
  EXPECT_TRUE(client.connect_and_wait_closed("127.0.0.1", gw.port()));
  gateway_harness open_gw(access_config(upstream.port(), "", ", allow: [loopback]"));
  EXPECT_EQ(status_of(open_gw.port()), 200u);
}

// A ws listener judges the client cloudflared reports, and only a trusted peer's report.
// `listener_extra` / `route_extra` are added to the ws listener and to the echo route.
std::string ws_config(const test_pki& pki, std::uint16_t upstream_port, const std::string& listener_extra,
                      const std::string& route_extra, const std::string& extra = {}) {
  return fmt::format(R"(
listeners:
  - {{ address: "127.0.0.1:0", mode: ws {} }}
tunnel_domain: t.example.test
tls: {{ cert_file: "{}", key_file: "{}" }}
ip_sets:
  claude: [160.79.104.0/21]
routes:
  echo: {{ upstream: "http://127.0.0.1:{}" {} }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
{}
)",
                     listener_extra, pki.server_cert, pki.server_key, upstream_port, route_extra, extra);
}

TEST(Access, WebSocketListenerJudgesTheClientATrustedProxyReports) {
  test_pki pki({"*.t.example.test"});
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  auto attempt = [&](const std::string& config, const std::string& reported) {
    gateway_harness gw(config);
    http_test_client client(3s);
    try {
      client.connect_tunnel("127.0.0.1", gw.port(), "echo.t.example.test", pki.ca_cert, {{"Cf-Connecting-Ip", reported}});
      return client.request(mcp_post("{}", "echo.t.example.test")).result_int();
    } catch (const boost::system::system_error&) {
      return 0u;  // closed before the TLS handshake
    }
  };
  EXPECT_EQ(attempt(ws_config(pki, upstream.port(), "", ""), "203.0.113.7"), 200u);
  const auto route_rule = ws_config(pki, upstream.port(), "", ", allow: [claude]");
  EXPECT_EQ(attempt(route_rule, "160.79.104.10"), 200u);
  EXPECT_EQ(attempt(route_rule, "203.0.113.7"), 403u);
  // A peer outside trusted_proxies: its report is ignored, so the socket peer (loopback) is judged.
  EXPECT_EQ(attempt(ws_config(pki, upstream.port(), "", ", allow: [claude]", "trusted_proxies: [10.0.0.0/8]"),
                    "160.79.104.10"),
            403u);
  const auto listener_rule = ws_config(pki, upstream.port(), ", allow: [claude]", "");
  EXPECT_EQ(attempt(listener_rule, "160.79.104.10"), 200u);
  EXPECT_EQ(attempt(listener_rule, "203.0.113.7"), 0u);
}

TEST(Access, AnEntryExpiringWhileRunningStopsMatchingWithoutAReload) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  const auto until = config::format_timestamp(std::chrono::system_clock::now() + 2s);
  gateway_harness gw(fmt::format(R"(
listeners: [ {{ address: "127.0.0.1:0" }} ]
ip_sets:
  temporary:
    - {{ cidr: 127.0.0.0/8, until: "{}" }}
routes:
  "*": {{ upstream: "http://127.0.0.1:{}", allow: [temporary] }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                 until, upstream.port()));
  EXPECT_EQ(status_of(gw.port()), 200u);
  EXPECT_TRUE(wait_until([&] { return status_of(gw.port()) == 403u; }, 10s));
}

}  // namespace
}  // namespace mcpgate::test

namespace mcpgate::test {
namespace {

// A reverse proxy in front of a plain listener: its X-Forwarded-For is believed only when
// it is a trusted proxy, read right to left, and each request on one proxy connection is
// judged by its own client.
TEST(Access, ForwardedForFromATrustedProxyIsJudgedPerRequestAndIgnoredOtherwise) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  auto request_from = [](http_test_client& client, const std::string& xff) {
    auto req = mcp_post("{}");
    req.set("X-Forwarded-For", xff);
    return client.request(req).result_int();
  };
  {
    gateway_harness gw(access_config(upstream.port(), ", allow: [claude]", {}, "trusted_proxies: [127.0.0.1]"));
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    EXPECT_EQ(request_from(client, "160.79.104.10"), 200u);
    // A client's own leftmost entry cannot win: the nearest untrusted hop is judged.
    EXPECT_EQ(request_from(client, "160.79.104.10, 203.0.113.9"), 403u);
  }
  {
    // Unset trusted_proxies trusts loopback on ws listeners only: here the header is ignored.
    gateway_harness gw(access_config(upstream.port(), ", allow: [claude]"));
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    EXPECT_EQ(request_from(client, "160.79.104.10"), 403u);
  }
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->at(0)["X-Forwarded-For"], "160.79.104.10");
}

}  // namespace
}  // namespace mcpgate::test

namespace mcpgate::test {
namespace {

TEST(Access, AnOriginTheRouteDoesNotListIsRefused) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(access_config(upstream.port(), R"(, allowed_origins: ["https://App.Example.com", "http://localhost:6274"])"));
  auto with_origin = [&](const char* origin) {
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    auto req = mcp_post("{}");
    if (origin) req.set(http::field::origin, origin);
    return client.request(req).result_int();
  };
  EXPECT_EQ(with_origin(nullptr), 200u);  // non-browser clients send none
  EXPECT_EQ(with_origin("https://app.example.com"), 200u);
  EXPECT_EQ(with_origin("HTTP://LOCALHOST:6274"), 200u);
  EXPECT_EQ(with_origin("https://evil.example"), 403u);  // DNS rebinding from a web page
  EXPECT_EQ(with_origin("http://localhost:6275"), 403u);
  EXPECT_EQ(with_origin("null"), 403u);
  EXPECT_EQ(seen->size(), 3u);
}

}  // namespace
}  // namespace mcpgate::test

namespace mcpgate::test {
namespace {

// A load balancer in front speaking the PROXY protocol: the header names the client, which
// the rules judge and the upstream sees; a connection without a valid header is closed.
TEST(Access, ProxyProtocolHeaderNamesTheClient) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(access_config(upstream.port(), ", allow: [claude]", ", proxy_protocol: true"));
  auto send_after = [&](const std::string& header) {
    http_test_client client(3s);
    client.connect("127.0.0.1", gw.port());
    client.send_raw(header);
    return client.request(mcp_post("{}")).result_int();
  };
  EXPECT_EQ(send_after("PROXY TCP4 160.79.104.10 10.0.0.1 51234 443\r\n"), 200u);
  const std::string v2_denied("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00\x71\x07\x0a\x00\x00\x01\xc8\x22\x01\xbb", 28);
  EXPECT_EQ(send_after(v2_denied), 403u);  // 203.0.113.7: not in the allow list
  const std::string v2_allowed("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xa0\x4f\x68\x0b\x0a\x00\x00\x01\xc8\x22\x01\xbb", 28);
  EXPECT_EQ(send_after(v2_allowed), 200u);  // 160.79.104.11
  {
    http_test_client client(3s);  // a client that skips the balancer
    client.connect("127.0.0.1", gw.port());
    client.send(mcp_post("{}"));
    EXPECT_TRUE(client.wait_closed());
  }
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_EQ(seen->at(0)["X-Forwarded-For"], "160.79.104.10");
  EXPECT_EQ(seen->at(1)["X-Forwarded-For"], "160.79.104.11");
}

}  // namespace
}  // namespace mcpgate::test

namespace mcpgate::test {
namespace {

TEST(ConnectionLimits, ListenerMaxConnectionsClosesNewOnesAndKeepsTheOpenOnes) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(access_config(upstream.port(), "", ", max_connections: 2"));
  http_test_client first, second;
  first.connect("127.0.0.1", gw.port());
  second.connect("127.0.0.1", gw.port());
  EXPECT_EQ(first.request(mcp_post("{}")).result_int(), 200);
  EXPECT_EQ(second.request(mcp_post("{}")).result_int(), 200);  // both counted before the third arrives
  {
    http_test_client third(3s);
    EXPECT_TRUE(third.connect_and_wait_closed("127.0.0.1", gw.port()));
  }
  EXPECT_EQ(first.request(mcp_post("{}")).result_int(), 200);  // the open ones keep working
  EXPECT_TRUE(wait_until([&] { return gw.decisions("listeners[0].max_connections").refused == 1; }));
  first.close();
  EXPECT_TRUE(wait_until([&] {
    try {
      http_test_client again(1s);
      again.connect("127.0.0.1", gw.port());
      return again.request(mcp_post("{}")).result_int() == 200;
    } catch (const boost::system::system_error&) {
      return false;
    }
  }));
}

}  // namespace
}  // namespace mcpgate::test
