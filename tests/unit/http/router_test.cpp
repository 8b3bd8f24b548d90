#include "http/router.hpp"

#include <gtest/gtest.h>

namespace mcpgate::http {
namespace {

config::route make_route(std::string key, std::string path, std::string upstream_host) {
  config::route r;
  r.host_key = key;
  r.name = key + path;
  r.path = std::move(path);
  r.upstream = {"http", std::move(upstream_host), 8080};
  return r;
}

struct RouterTest : ::testing::Test {
  config::config cfg;
  const std::string* upstream_of(std::string_view host, std::string_view target) {
    router r(cfg);
    const auto* route = r.match(host, target);
    return route ? &route->upstream.host : nullptr;
  }
};

TEST_F(RouterTest, ExactHostThenTunnelSubdomainThenWildcard) {
  cfg.tunnel_domain = "abcd.tunnel.example.com";
  cfg.routes = {make_route("echo", "/", "echo-up"), make_route("mcp.example.org", "/", "exact-up"),
                make_route("*", "/", "any-up")};
  EXPECT_EQ(*upstream_of("echo.abcd.tunnel.example.com", "/mcp"), "echo-up");
  EXPECT_EQ(*upstream_of("ECHO.abcd.Tunnel.example.com:443", "/mcp"), "echo-up");  // case, port
  EXPECT_EQ(*upstream_of("mcp.example.org", "/"), "exact-up");
  EXPECT_EQ(*upstream_of("echo", "/"), "echo-up");  // a bare key is also an exact host
  EXPECT_EQ(*upstream_of("other.abcd.tunnel.example.com", "/"), "any-up");
  EXPECT_EQ(*upstream_of("abcd.tunnel.example.com", "/"), "any-up");  // the domain itself has no subdomain
}

TEST_F(RouterTest, WithoutTunnelDomainSubdomainKeysDoNotMatchLongerHosts) {
  cfg.routes = {make_route("echo", "/", "echo-up")};
  EXPECT_EQ(upstream_of("echo.abcd.tunnel.example.com", "/"), nullptr);
}

TEST_F(RouterTest, LongestPathPrefixAtSegmentBoundaries) {
  cfg.routes = {make_route("*", "/", "root"), make_route("*", "/mcp", "mcp"), make_route("*", "/mcp/admin", "admin"),
                make_route("*", "/sse", "sse")};
  EXPECT_EQ(*upstream_of("h", "/mcp"), "mcp");
  EXPECT_EQ(*upstream_of("h", "/mcp?x=/mcp/admin"), "mcp");
  EXPECT_EQ(*upstream_of("h", "/mcp/"), "mcp");
  EXPECT_EQ(*upstream_of("h", "/mcp/admin/x"), "admin");
  EXPECT_EQ(*upstream_of("h", "/mcpx"), "root");
  EXPECT_EQ(*upstream_of("h", "/sse"), "sse");
  EXPECT_EQ(*upstream_of("h", "/"), "root");
}

TEST_F(RouterTest, HostKeyWithoutMatchingPathDoesNotFallThroughToWildcard) {
  cfg.routes = {make_route("api.example.com", "/mcp", "api"), make_route("*", "/", "any")};
  EXPECT_EQ(*upstream_of("api.example.com", "/mcp"), "api");
  EXPECT_EQ(upstream_of("api.example.com", "/admin"), nullptr);
}

TEST_F(RouterTest, NoRoutesMeansNoMatch) { EXPECT_EQ(upstream_of("h", "/"), nullptr); }

TEST(RouterHost, NormalisesPortsCaseBracketsAndTrailingDot) {
  EXPECT_EQ(router::normalise_host("Example.COM:8443"), "example.com");
  EXPECT_EQ(router::normalise_host("example.com."), "example.com");
  EXPECT_EQ(router::normalise_host("[::1]:8080"), "::1");
  EXPECT_EQ(router::normalise_host("::1"), "::1");
  EXPECT_EQ(router::normalise_host("127.0.0.1:80"), "127.0.0.1");
  EXPECT_EQ(router::normalise_host(""), "");
}

}  // namespace
}  // namespace mcpgate::http
