#include "http/forwarding.hpp"

#include <gtest/gtest.h>

namespace mcpgate::http {
namespace {

namespace bhttp = boost::beast::http;

config::route route_to(std::string host, std::uint16_t port) {
  config::route r;
  r.name = "r";
  r.host_key = "*";
  r.upstream = {"http", std::move(host), port};
  return r;
}

TEST(Forwarding, StripsHopByHopAndFieldsNamedByConnection) {
  bhttp::request_header<> req;
  req.set(bhttp::field::connection, "keep-alive, X-Secret-Hop, Upgrade");
  req.set("X-Secret-Hop", "1");
  req.set(bhttp::field::keep_alive, "timeout=5");
  req.set(bhttp::field::upgrade, "websocket");
  req.set(bhttp::field::te, "trailers");
  req.set(bhttp::field::proxy_authorization, "Basic xyz");
  req.set(bhttp::field::transfer_encoding, "chunked");
  req.set("Mcp-Session-Id", "abc");
  strip_hop_by_hop(req);
  for (auto name : {"Connection", "X-Secret-Hop", "Keep-Alive", "Upgrade", "TE", "Proxy-Authorization",
                    "Transfer-Encoding"}) {
    EXPECT_EQ(req.count(name), 0u) << name;
  }
  EXPECT_EQ(req["Mcp-Session-Id"], "abc");
}

TEST(Forwarding, ConnectionCannotStripHostOrContentLength) {
  bhttp::request_header<> req;
  req.set(bhttp::field::connection, "Host, Content-Length");
  req.set(bhttp::field::host, "h");
  req.set(bhttp::field::content_length, "5");
  strip_hop_by_hop(req);
  EXPECT_EQ(req[bhttp::field::host], "h");
  EXPECT_EQ(req[bhttp::field::content_length], "5");
}

TEST(Forwarding, UpstreamRequestGetsUpstreamHostAndForwardedHeaders) {
  bhttp::request_header<> req;
  req.method(bhttp::verb::post);
  req.target("/mcp?x=1");
  req.set(bhttp::field::host, "echo.tunnel.example");
  req.set("X-Forwarded-For", "6.6.6.6");  // forged by the client
  req.set(bhttp::field::forwarded, "for=6.6.6.6");
  req.set(bhttp::field::expect, "100-continue");
  for (auto name : {"Mcp-Session-Id", "MCP-Protocol-Version", "Last-Event-ID", "Mcp-Method", "Mcp-Name",
                    "Mcp-Param-Region", "Authorization", "Accept", "Content-Type"}) {
    req.set(name, std::string("v-") + name);
  }
  auto route = route_to("10.0.0.5", 9000);
  prepare_upstream_request(req, route, {"203.0.113.9", true, "echo.tunnel.example"});

  EXPECT_EQ(req[bhttp::field::host], "10.0.0.5:9000");
  EXPECT_EQ(req.target(), "/mcp?x=1");
  EXPECT_EQ(req["X-Forwarded-For"], "203.0.113.9");
  EXPECT_EQ(req["X-Forwarded-Proto"], "https");
  EXPECT_EQ(req["X-Forwarded-Host"], "echo.tunnel.example");
  EXPECT_EQ(req.count(bhttp::field::forwarded), 0u);
  EXPECT_EQ(req.count(bhttp::field::expect), 0u);
  for (auto name : {"Mcp-Session-Id", "MCP-Protocol-Version", "Last-Event-ID", "Mcp-Method", "Mcp-Name",
                    "Mcp-Param-Region", "Authorization", "Accept", "Content-Type"}) {
    EXPECT_EQ(req[name], std::string("v-") + name) << name;
  }
}

TEST(Forwarding, PreserveHostKeepsClientHostAndIpv6AuthorityIsBracketed) {
  bhttp::request_header<> req;
  req.set(bhttp::field::host, "public.example");
  auto route = route_to("fd00::5", 80);
  prepare_upstream_request(req, route, {"::1", false, "public.example"});
  EXPECT_EQ(req[bhttp::field::host], "[fd00::5]:80");
  EXPECT_EQ(req["X-Forwarded-Proto"], "http");
  route.preserve_host = true;
  prepare_upstream_request(req, route, {"::1", false, "public.example"});
  EXPECT_EQ(req[bhttp::field::host], "public.example");
}

TEST(Forwarding, StripPathRemovesTheRoutePrefixAndKeepsTheQuery) {
  bhttp::request_header<> req;
  req.target("/everything/mcp?sessionId=a%2Fb&x=/everything");
  req.set(bhttp::field::host, "gw.example");
  auto route = route_to("10.0.0.5", 3001);
  route.path = "/everything";
  prepare_upstream_request(req, route, {"::1", false, "gw.example"});
  EXPECT_EQ(req.target(), "/everything/mcp?sessionId=a%2Fb&x=/everything");  // strip_path off: unchanged
  route.strip_path = true;
  prepare_upstream_request(req, route, {"::1", false, "gw.example"});
  EXPECT_EQ(req.target(), "/mcp?sessionId=a%2Fb&x=/everything");
}

TEST(Forwarding, StrippedTarget) {
  EXPECT_EQ(stripped_target("/everything", "/everything/mcp"), "/mcp");
  EXPECT_EQ(stripped_target("/everything", "/everything"), "/");
  EXPECT_EQ(stripped_target("/everything", "/everything?x=1"), "/?x=1");
  EXPECT_EQ(stripped_target("/everything", "/everything/"), "/");
  EXPECT_EQ(stripped_target("/everything", "/everything/message?sessionId=1"), "/message?sessionId=1");
  EXPECT_EQ(stripped_target("/a/b", "/a/b/c/d?q=/a/b"), "/c/d?q=/a/b");
  EXPECT_EQ(stripped_target("/everything/", "/everything/mcp"), "/mcp");
  EXPECT_EQ(stripped_target("/everything", "/everything//x"), "//x");
  // "/" strips nothing; a prefix that does not match at a '/' boundary changes nothing.
  EXPECT_EQ(stripped_target("/", "/mcp?x=1"), "/mcp?x=1");
  EXPECT_EQ(stripped_target("/every", "/everything/mcp"), "/everything/mcp");
  EXPECT_EQ(stripped_target("/other", "/everything"), "/everything");
}

TEST(Forwarding, ResponseKeepsMcpAndAuthHeaders) {
  bhttp::response_header<> res;
  res.set(bhttp::field::connection, "close");
  res.set(bhttp::field::www_authenticate, "Bearer resource_metadata=\"https://x/.well-known/oauth-protected-resource\"");
  res.set("Mcp-Session-Id", "s1");
  res.set(bhttp::field::content_type, "text/event-stream");
  prepare_downstream_response(res);
  EXPECT_EQ(res.count(bhttp::field::connection), 0u);
  EXPECT_EQ(res["Mcp-Session-Id"], "s1");
  EXPECT_NE(res[bhttp::field::www_authenticate].find("resource_metadata"), std::string::npos);
}

TEST(Forwarding, DotSegmentsAreDetectedAlsoWhenEncoded) {
  for (auto bad : {"/..", "/mcp/../admin", "/./mcp", "/mcp/%2e%2e/admin", "/%2E/x", "/a/.?q"}) {
    EXPECT_TRUE(has_dot_segments(bad)) << bad;
  }
  for (auto ok : {"/", "/mcp", "/mcp/...", "/a.b/c", "/mcp?next=/../x", "/.well-known/oauth-protected-resource", "/%2e%2ex"}) {
    EXPECT_FALSE(has_dot_segments(ok)) << ok;
  }
}

}  // namespace
}  // namespace mcpgate::http

namespace mcpgate::http {
namespace {

TEST(Forwarding, ClientAddressReportedByAProxy) {
  auto reported = [](std::vector<std::pair<std::string, std::string>> fields) {
    boost::beast::http::fields f;
    for (auto& [name, value] : fields) f.insert(name, value);
    return forwarded_client_address(f);
  };
  EXPECT_EQ(reported({{"Cf-Connecting-Ip", " 203.0.113.7 "}, {"X-Forwarded-For", "198.51.100.1"}}), "203.0.113.7");
  EXPECT_EQ(reported({{"Cf-Connecting-Ip", "2001:DB8::1"}}), "2001:db8::1");
  EXPECT_EQ(reported({{"Cf-Connecting-Ip", "::ffff:192.0.2.1"}}), "192.0.2.1");
  // The nearest hop: last entry of the last field line.
  EXPECT_EQ(reported({{"X-Forwarded-For", "10.0.0.1, 192.0.2.9"}}), "192.0.2.9");
  EXPECT_EQ(reported({{"X-Forwarded-For", "10.0.0.1"}, {"X-Forwarded-For", "192.0.2.10"}}), "192.0.2.10");
  EXPECT_EQ(reported({{"X-Forwarded-For", "[2001:db8::2]:443"}}), "2001:db8::2");
  // Garbage in Cf-Connecting-Ip falls back to X-Forwarded-For; garbage everywhere is nothing.
  EXPECT_EQ(reported({{"Cf-Connecting-Ip", "evil"}, {"X-Forwarded-For", "192.0.2.3"}}), "192.0.2.3");
  EXPECT_EQ(reported({{"X-Forwarded-For", "192.0.2.3, unknown"}}), std::nullopt);
  EXPECT_EQ(reported({{"X-Forwarded-For", "192.0.2.3,"}}), std::nullopt);
  EXPECT_EQ(reported({{"X-Forwarded-For", "[::1"}}), std::nullopt);
  EXPECT_EQ(reported({}), std::nullopt);
}

}  // namespace
}  // namespace mcpgate::http

namespace mcpgate::http {
namespace {

TEST(Forwarding, ClientBehindTrustedProxiesIsTheFirstUntrustedHopFromTheRight) {
  const net::ip_prefix_set trusted({*net::ip_prefix::parse("10.0.0.0/8"), *net::ip_prefix::parse("127.0.0.1")});
  auto client = [&](std::vector<std::pair<std::string, std::string>> fields) {
    boost::beast::http::fields f;
    for (auto& [name, value] : fields) f.insert(name, value);
    return client_behind_proxies(f, trusted);
  };
  // A client-supplied first entry cannot win: the walk stops at the first untrusted hop.
  EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.2"}}), "203.0.113.9");
  EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-For", "203.0.113.9, 10.1.2.3"}}), "203.0.113.9");
  EXPECT_EQ(client({{"X-Forwarded-For", "10.0.0.5, 127.0.0.1"}}), "10.0.0.5");  // all trusted: the farthest
  EXPECT_EQ(client({{"X-Forwarded-For", "203.0.113.9, unknown, 10.0.0.2"}}), std::nullopt);
  EXPECT_EQ(client({{"X-Forwarded-For", "192.0.2.1:8080"}}), "192.0.2.1");
  EXPECT_EQ(client({{"Cf-Connecting-Ip", "198.51.100.4"}}), "198.51.100.4");
  EXPECT_EQ(client({{"Forwarded", R"(for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711")"}}),
            "2001:db8:cafe::17");
  EXPECT_EQ(client({{"Forwarded", "for=192.0.2.60, for=10.0.0.1"}}), "192.0.2.60");
  EXPECT_EQ(client({{"Forwarded", "for=_hidden"}}), std::nullopt);
  EXPECT_EQ(client({}), std::nullopt);
}

}  // namespace
}  // namespace mcpgate::http
