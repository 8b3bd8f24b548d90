#include "config/loader.hpp"

#include <gtest/gtest.h>

#include <string>

#include "config/units.hpp"
#include "config_test_util.hpp"

namespace mcpgate::config {
namespace {

using testing::clean;
using testing::has;
using testing::has_part;
using testing::listener_line;
using testing::load;
using testing::loads;
using testing::source_path;

std::string with_listener(std::string_view rest) { return std::string(listener_line) + std::string(rest); }

// ---- the configs that must load ----------------------------------------------------

TEST(ConfigLoader, AnthropicQuickstartLoadsWithSameMeaning) {
  const auto path = source_path("examples/anthropic/quickstart.yaml");
  const auto r = load_file(path);
  ASSERT_TRUE(clean(r));
  const config& c = *r.snapshot;
  EXPECT_EQ(c.source, path);
  EXPECT_EQ(c.listen_addr, ":8080");
  ASSERT_EQ(c.listeners.size(), 1u);
  const listener& l = c.listeners[0];
  EXPECT_EQ(l.address, ":8080");
  EXPECT_EQ(l.bind_host, "");
  EXPECT_EQ(l.port, 8080);
  EXPECT_EQ(l.mode, listener_mode::ws);
  EXPECT_TRUE(l.from_listen_addr);
  EXPECT_EQ(l.tls.cert_file, "/data/tls.crt");
  EXPECT_EQ(l.tls.key_file, "/data/tls.key");
  EXPECT_EQ(c.tls.cert_file, "/data/tls.crt");
  EXPECT_EQ(c.level, log_level::info);
  EXPECT_EQ(c.shutdown_timeout, 30s);
  EXPECT_EQ(c.tunnel_domain, "abcd1234.tunnel.anthropic.com");
  ASSERT_EQ(c.routes.size(), 1u);
  const route& echo = c.routes[0];
  EXPECT_EQ(echo.name, "echo");
  EXPECT_EQ(echo.host_key, "echo");
  EXPECT_EQ(echo.path, "/");
  EXPECT_EQ(echo.upstream.to_string(), "http://hello-mcp:9000");
  EXPECT_FALSE(echo.upstream.tls());
  EXPECT_EQ(echo.timeouts.connect, 10s);
  EXPECT_EQ(echo.timeouts.response_header, 300s);
  EXPECT_EQ(echo.timeouts.stream_idle, 0ms);
  EXPECT_FALSE(echo.preserve_host);
  EXPECT_FALSE(c.upstream.allowed_ips_set);
  EXPECT_EQ(c.upstream.allowed_ips, net::rfc1918_prefixes());
  EXPECT_FALSE(c.upstream.disable_ip_validation);
}

TEST(ConfigLoader, PathRoutesExampleLoads) {
  const auto r = load_file(source_path("examples/paths.yaml"));
  ASSERT_TRUE(clean(r));
  const config& c = *r.snapshot;
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].mode, listener_mode::plain);
  EXPECT_EQ(c.listeners[0].bind_host, "127.0.0.1");
  EXPECT_FALSE(c.listeners[0].from_listen_addr);
  EXPECT_TRUE(c.listen_addr.empty());
  ASSERT_EQ(c.routes.size(), 3u);
  const char* names[] = {"*[0]", "*[1]", "*[2]"};
  const char* paths[] = {"/mcp", "/sse", "/message"};
  const char* upstreams[] = {"http://127.0.0.1:3101", "http://127.0.0.1:3102", "http://127.0.0.1:3102"};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.routes[i].name, names[i]);
    EXPECT_EQ(c.routes[i].host_key, "*");
    EXPECT_EQ(c.routes[i].path, paths[i]);
    EXPECT_EQ(c.routes[i].upstream.to_string(), upstreams[i]);
  }
  EXPECT_TRUE(c.upstream.allowed_ips_set);
  ASSERT_EQ(c.upstream.allowed_ips.size(), 1u);
  EXPECT_EQ(c.upstream.allowed_ips[0].to_string(), "127.0.0.0/8");
}

TEST(ConfigLoader, LocalExampleLoads) {
  const auto r = load_file(source_path("examples/local.yaml"));
  ASSERT_TRUE(clean(r));
  ASSERT_EQ(r.snapshot->routes.size(), 1u);
  EXPECT_EQ(r.snapshot->routes[0].path, "/mcp");
  EXPECT_EQ(r.snapshot->routes[0].upstream.to_string(), "http://127.0.0.1:3000");
}

TEST(ConfigLoader, RouteObjectFieldsAndDefaults) {
  const auto r = load(with_listener(R"(routes:
  api.example.com:
    path: /mcp/
    upstream: "HTTP://API.Internal:8080"
    connect_timeout: 2s
    response_header_timeout: 1m
    stream_idle_timeout: 90s
    preserve_host: true
    strip_path: true
  Other: { upstream: "http://10.0.0.5:80" }
)"));
  ASSERT_TRUE(loads(r));
  const auto& routes = r.snapshot->routes;
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].name, "api.example.com");
  EXPECT_EQ(routes[0].path, "/mcp");
  EXPECT_EQ(routes[0].upstream.scheme, "http");
  EXPECT_EQ(routes[0].upstream.host, "api.internal");
  EXPECT_EQ(routes[0].upstream.port, 8080);
  EXPECT_EQ(routes[0].timeouts.connect, 2s);
  EXPECT_EQ(routes[0].timeouts.response_header, 60s);
  EXPECT_EQ(routes[0].timeouts.stream_idle, 90s);
  EXPECT_TRUE(routes[0].preserve_host);
  EXPECT_TRUE(routes[0].strip_path);
  EXPECT_EQ(routes[1].name, "Other");
  EXPECT_EQ(routes[1].host_key, "other");
  EXPECT_EQ(routes[1].path, "/");
  EXPECT_EQ(routes[1].timeouts.connect, 10s);
  EXPECT_FALSE(routes[1].preserve_host);
  EXPECT_FALSE(routes[1].strip_path);
}

TEST(ConfigLoader, RoutesKeepFileOrderAcrossForms) {
  const auto r = load(with_listener(R"(tunnel_domain: t.example.com
routes:
  b: http://10.0.0.2:80
  "*":
    - { path: /x, upstream: "http://10.0.0.3:80" }
    - { upstream: "http://10.0.0.4:80" }
  a: { path: /, upstream: "http://10.0.0.1:80" }
)"));
  ASSERT_TRUE(clean(r));
  const auto& routes = r.snapshot->routes;
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].name, "b");
  EXPECT_EQ(routes[1].name, "*[0]");
  EXPECT_EQ(routes[2].name, "*[1]");
  EXPECT_EQ(routes[2].path, "/");
  EXPECT_EQ(routes[3].name, "a");
}

TEST(ConfigLoader, Ipv6UpstreamAndListener) {
  const auto r = load(R"(listeners:
  - { address: "[::1]:8443", mode: plain }
routes:
  v6: "http://[2001:DB8::1]:8080"
upstream:
  allowed_ips: ["2001:db8::/32"]
)");
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.snapshot->listeners[0].bind_host, "::1");
  EXPECT_EQ(r.snapshot->listeners[0].port, 8443);
  EXPECT_EQ(r.snapshot->routes[0].upstream.host, "2001:db8::1");
  EXPECT_EQ(r.snapshot->routes[0].upstream.authority(), "[2001:db8::1]:8080");
}

// ---- routes errors ---------------------------------------------------------------------

TEST(ConfigLoader, RoutesAsListIsAnErrorAtTheRoutesNode) {
  const auto r = load_file(source_path("tests/unit/config/bad/routes_list.yaml"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error_count(), 1u);
  EXPECT_TRUE(has(r, source_path("tests/unit/config/bad/routes_list.yaml") +
                         ":4:3: error: routes: routes must be a map of name: scheme://host:port, got a list"));
}

TEST(ConfigLoader, InvalidUpstreams) {
  struct bad_case {
    const char* value;
    const char* reason;
  };
  const bad_case cases[] = {
      {"http://hello-mcp:9000/mcp", "a path is not allowed"},
      {"http://hello-mcp:9000/", "a path is not allowed"},
      {"http://hello-mcp", "missing port"},
      {"http://hello-mcp:", "missing port"},
      {"ftp://files:21", "the scheme must be http or https"},
      {"hello-mcp:9000", "the scheme must be http or https"},
      {"http://user:pw@host:80", "user info is not allowed"},
      {"http://host:80?x=1", "a query is not allowed"},
      {"http://host:80#frag", "a fragment is not allowed"},
      {"http://host:0", "invalid port \"0\""},
      {"http://host:65536", "invalid port \"65536\""},
      {"http://300.1.1.1:80", "invalid IPv4 address"},
      {"http://ho%20st:80", "invalid host name"},
      {"not a url", "not an absolute URL"},
  };
  for (const auto& c : cases) {
    const auto r = load(with_listener("routes:\n  x: \"" + std::string(c.value) + "\"\n"));
    EXPECT_FALSE(r.ok()) << c.value;
    EXPECT_TRUE(has_part(r, "t.yaml:3:6: error: routes.x: invalid upstream (must be scheme://host:port or stdio:<command>), got \"" +
                                std::string(c.value) + "\": " + c.reason));
  }
}

TEST(ConfigLoader, InvalidUpstreamInsideRouteObjectAndList) {
  const auto r = load(with_listener(R"(routes:
  a: { upstream: "http://a/x" }
  "*":
    - { path: /ok, upstream: "http://b:1" }
    - { path: /bad, upstream: "http://c:1/p" }
)"));
  EXPECT_TRUE(has(r, "t.yaml:3:18: error: routes.a.upstream: invalid upstream (must be scheme://host:port or stdio:<command>), "
                     "got \"http://a/x\": missing port (the port is mandatory)"));
  EXPECT_TRUE(has_part(r, "t.yaml:6:31: error: routes.*[1].upstream: invalid upstream"));
  EXPECT_EQ(r.error_count(), 2u);
}

TEST(ConfigLoader, RoutePathRules) {
  const auto r = load(with_listener(R"(routes:
  a: { path: mcp, upstream: "http://a:1" }
  b: { path: "/x?y", upstream: "http://a:1" }
  c: { path: "/x#y", upstream: "http://a:1" }
  d: { path: "/a b", upstream: "http://a:1" }
)"));
  EXPECT_TRUE(has(r, "t.yaml:3:14: error: routes.a.path: invalid path \"mcp\": must start with \"/\""));
  EXPECT_TRUE(has(r, "t.yaml:4:14: error: routes.b.path: invalid path \"/x?y\": no query (?) or fragment (#) allowed"));
  EXPECT_TRUE(has(r, "t.yaml:5:14: error: routes.c.path: invalid path \"/x#y\": no query (?) or fragment (#) allowed"));
  EXPECT_TRUE(has_part(r, "t.yaml:6:14: error: routes.d.path: invalid path \"/a b\""));
  EXPECT_EQ(r.error_count(), 4u);
}

TEST(ConfigLoader, DuplicatePathInListAfterNormalisation) {
  const auto r = load(with_listener(R"(routes:
  "*":
    - { path: /mcp, upstream: "http://a:1" }
    - { path: /mcp/, upstream: "http://a:2" }
    - { upstream: "http://a:3" }
    - { path: /, upstream: "http://a:4" }
)"));
  EXPECT_TRUE(has(r, "t.yaml:5:15: error: routes.*[1].path: duplicate path \"/mcp\" for route key \"*\""));
  EXPECT_TRUE(has(r, "t.yaml:7:15: error: routes.*[3].path: duplicate path \"/\" for route key \"*\""));
  EXPECT_EQ(r.error_count(), 2u);
}

TEST(ConfigLoader, RouteValueShapes) {
  const auto r = load(with_listener(R"(routes:
  a:
  b: []
  c: [ "http://a:1" ]
  d: { path: /x }
)"));
  EXPECT_TRUE(has_part(r, "t.yaml:3:3: error: routes.a: expected an upstream (scheme://host:port), a route object"));
  EXPECT_TRUE(has_part(r, "t.yaml:4:6: error: routes.b: empty list of routes"));
  EXPECT_TRUE(has(r, "t.yaml:5:8: error: routes.c[0]: expected a route object { path, upstream }, got \"http://a:1\""));
  EXPECT_TRUE(has(r, "t.yaml:6:6: error: routes.d.upstream: missing required key \"upstream\" (scheme://host:port or stdio:<command>)"));
  EXPECT_EQ(r.error_count(), 4u);
}

TEST(ConfigLoader, RouteKeys) {
  const auto r = load(with_listener(R"(tunnel_domain: t.example.com
routes:
  "*.example.com": http://a:1
  "bad key": http://a:1
  Echo: http://a:1
  echo: http://a:2
)"));
  EXPECT_TRUE(has_part(r, "t.yaml:4:3: error: routes.*.example.com: invalid route key \"*.example.com\": the only wildcard"));
  EXPECT_TRUE(has_part(r, "t.yaml:5:3: error: routes.bad key: invalid route key \"bad key\""));
  EXPECT_TRUE(has(r, "t.yaml:7:3: error: routes.echo: duplicate route key \"echo\" (route keys are case-insensitive)"));
  EXPECT_EQ(r.error_count(), 3u);
}

TEST(ConfigLoader, HttpsUpstreamNeedsATrustAnchor) {
  const std::string routes = R"(routes:
  secure: https://secure.internal:443
  "*":
    - { path: /a, upstream: "https://10.0.0.1:443" }
)";
  const auto r = load(with_listener(routes));
  EXPECT_TRUE(has(r, "t.yaml:3:11: error: routes.secure: route \"secure\" has an https upstream but neither "
                     "upstream.tls.ca_file nor upstream.tls.include_system_cas is set: otherwise the proxy has "
                     "no trust anchor"));
  EXPECT_TRUE(has_part(r, "t.yaml:5:29: error: routes.*[0].upstream: route \"*[0]\" has an https upstream"));
  EXPECT_EQ(r.error_count(), 2u);

  EXPECT_EQ(load(with_listener(routes + "upstream: { tls: { include_system_cas: true } }\n")).error_count(), 0u);
  const auto with_ca = load(with_listener(routes + "upstream: { tls: { ca_file: /data/ca.pem } }\n"));
  ASSERT_TRUE(loads(with_ca));
  EXPECT_EQ(with_ca.snapshot->upstream.ca_file, "/data/ca.pem");
  EXPECT_TRUE(with_ca.snapshot->routes[0].upstream.tls());
}

TEST(ConfigLoader, EmptyOrMissingRoutesOnlyWarn) {
  for (const char* routes : {"routes: {}\n", "routes:\n", ""}) {
    const auto r = load(with_listener(routes));
    ASSERT_TRUE(loads(r)) << routes;
    EXPECT_EQ(r.diagnostics.size(), 1u);
    EXPECT_TRUE(has_part(r, "warning: routes: no routes: every request will get 502"));
  }
  EXPECT_TRUE(has(load(with_listener("routes: {}\n")), "t.yaml:2:9: warning: routes: no routes: every request will get 502"));
}

TEST(ConfigLoader, BareSubdomainWithoutTunnelDomainWarns) {
  const auto r = load(with_listener("routes:\n  echo: http://10.0.0.1:80\n  api.example.com: http://10.0.0.1:81\n"));
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.diagnostics.size(), 1u);
  EXPECT_TRUE(has_part(r, "t.yaml:3:3: warning: routes.echo: bare subdomain key without tunnel_domain"));
}

// ---- listeners, tls ----------------------------------------------------------------

TEST(ConfigLoader, ListenAddrOrListenersIsRequired) {
  for (const char* text : {"", "{}\n", "log_level: info\n", "# only a comment\n"}) {
    const auto r = load(text);
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_TRUE(has(r, "t.yaml: error: listen_addr: listen_addr or listeners is required")) << text;
  }
  EXPECT_TRUE(has(load("listeners: []\n"),
                  "t.yaml:1:12: error: listeners: listen_addr or listeners is required (listeners is empty)"));
}

TEST(ConfigLoader, ListenAddressForms) {
  struct good_case {
    const char* address;
    const char* host;
    std::uint16_t port;
  };
  const good_case good[] = {{":8080", "", 8080},
                            {"0.0.0.0:8080", "0.0.0.0", 8080},
                            {"127.0.0.1:0", "127.0.0.1", 0},
                            {"[::1]:8443", "::1", 8443},
                            {"[::]:80", "::", 80},
                            {"LocalHost:65535", "localhost", 65535}};
  for (const auto& g : good) {
    const auto r = load("listeners: [{ address: \"" + std::string(g.address) + "\" }]\n");
    ASSERT_TRUE(loads(r)) << g.address;
    EXPECT_EQ(r.snapshot->listeners[0].address, g.address);
    EXPECT_EQ(r.snapshot->listeners[0].bind_host, g.host);
    EXPECT_EQ(r.snapshot->listeners[0].port, g.port);
  }
  struct bad_case {
    const char* address;
    const char* reason;
  };
  const bad_case bad[] = {
      {"8080", "missing :port"},
      {"::1:80", "IPv6 addresses must be in brackets"},
      {"[::1]80", "missing :port after ']'"},
      {"[::1:80", "missing ']'"},
      {"[zz]:80", "invalid IPv6 address \"zz\""},
      {"1.2.3.256:80", "invalid IPv4 address \"1.2.3.256\""},
      {"127.0.0.1:65536", "invalid port \"65536\" (expected 0..65535)"},
      {"127.0.0.1:", "invalid port \"\""},
      {"127.0.0.1:http", "invalid port \"http\""},
      {"bad host:80", "invalid host \"bad host\""},
      {"", "empty address"},
  };
  for (const auto& b : bad) {
    const auto r = load("listen_addr: \"" + std::string(b.address) + "\"\n");
    EXPECT_TRUE(has_part(r, "t.yaml:1:14: error: listen_addr: invalid address \"" + std::string(b.address) + "\": " +
                                b.reason));
  }
}

TEST(ConfigLoader, ListenersModesAndOwnTls) {
  const auto r = load(R"(tls: { cert_file: /top.crt, key_file: /top.key }
listeners:
  - { address: "127.0.0.1:8080" }
  - { address: "127.0.0.1:8443", mode: tls, tls: { cert_file: /own.crt, key_file: /own.key } }
  - { address: "127.0.0.1:8444", mode: tls }
  - { address: "127.0.0.1:8445", mode: ws }
)");
  ASSERT_TRUE(loads(r));
  const auto& ls = r.snapshot->listeners;
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(ls[0].mode, listener_mode::plain);
  EXPECT_TRUE(ls[0].tls.empty());
  EXPECT_EQ(ls[1].tls.cert_file, "/own.crt");
  EXPECT_EQ(ls[2].tls.cert_file, "/top.crt");
  EXPECT_EQ(ls[3].mode, listener_mode::ws);
  EXPECT_EQ(ls[3].tls.key_file, "/top.key");
}

TEST(ConfigLoader, ListenAddrComesFirstAsWsListener) {
  const auto r = load(R"(listeners:
  - { address: "127.0.0.1:9000" }
listen_addr: ":8080"
tls: { cert_file: /c, key_file: /k }
)");
  ASSERT_TRUE(loads(r));
  ASSERT_EQ(r.snapshot->listeners.size(), 2u);
  EXPECT_TRUE(r.snapshot->listeners[0].from_listen_addr);
  EXPECT_EQ(r.snapshot->listeners[0].mode, listener_mode::ws);
  EXPECT_EQ(r.snapshot->listeners[1].address, "127.0.0.1:9000");
}

TEST(ConfigLoader, ListenerErrors) {
  const auto r = load(R"(listeners:
  - { address: "127.0.0.1:8080", mode: http }
  - { mode: plain }
  - "127.0.0.1:1"
  - { address: "127.0.0.1:8081", mode: tls }
  - { address: "127.0.0.1:8081" }
  - { address: "127.0.0.1:0" }
  - { address: "127.0.0.1:0" }
  - { address: "127.0.0.1:8082", mode: tls, tls: { cert_file: /c } }
)");
  EXPECT_TRUE(has(r, "t.yaml:2:40: error: listeners[0].mode: invalid mode \"http\" (expected one of: plain, tls, ws)"));
  EXPECT_TRUE(has_part(r, "t.yaml:3:5: error: listeners[1].address: missing required key \"address\""));
  EXPECT_TRUE(has(r, "t.yaml:4:5: error: listeners[2]: expected a map, got \"127.0.0.1:1\""));
  EXPECT_TRUE(has(r, "t.yaml:5:5: error: listeners[3]: listener \"127.0.0.1:8081\" (mode tls) needs a certificate: "
                     "set tls.cert_file and tls.key_file, or the listener's own tls:"));
  EXPECT_TRUE(has(r, "t.yaml:6:5: error: listeners[4]: duplicate listener address \"127.0.0.1:8081\""));
  EXPECT_TRUE(has(r, "t.yaml:9:63: error: listeners[7].tls.key_file: listeners[7].tls.cert_file is set but "
                     "listeners[7].tls.key_file is not (set both or neither)"));
  EXPECT_EQ(r.error_count(), 6u);
}

TEST(ConfigLoader, ListenAddrNeedsTls) {
  const auto r = load("listen_addr: \":8080\"\nroutes: { a: http://10.0.0.1:80 }\n");
  EXPECT_EQ(r.error_count(), 1u);
  EXPECT_TRUE(has(r, "t.yaml:1:14: error: listen_addr: listener \":8080\" (mode ws) needs a certificate: "
                     "set tls.cert_file and tls.key_file"));
}

TEST(ConfigLoader, TopLevelTlsBothOrNeither) {
  auto r = load(with_listener("tls:\n  key_file: /k\n"));
  EXPECT_TRUE(has(r, "t.yaml:3:13: error: tls.cert_file: tls.key_file is set but tls.cert_file is not (set both or neither)"));
  r = load(with_listener("tls: { cert_file: /c }\n"));
  EXPECT_TRUE(has(r, "t.yaml:2:19: error: tls.key_file: tls.cert_file is set but tls.key_file is not (set both or neither)"));
  EXPECT_TRUE(loads(load(with_listener("tls: {}\nroutes: {}\n"))));
}

TEST(ConfigLoader, DuplicateListenAddrAndListener) {
  const auto r = load(R"(listen_addr: "127.0.0.1:8080"
tls: { cert_file: /c, key_file: /k }
listeners: [{ address: "127.0.0.1:8080" }]
)");
  EXPECT_TRUE(has(r, "t.yaml:3:13: error: listeners[0]: duplicate listener address \"127.0.0.1:8080\""));
}

// ---- upstream -----------------------------------------------------------------------

TEST(ConfigLoader, AllowedIpsReplaceTheDefault) {
  const auto r = load(with_listener("upstream:\n  allowed_ips: [10.1.0.0/16, 192.168.1.7, \"fd00::/8\"]\nroutes: {a.example: http://10.1.0.1:1}\n"));
  ASSERT_TRUE(clean(r));
  const auto& up = r.snapshot->upstream;
  EXPECT_TRUE(up.allowed_ips_set);
  ASSERT_EQ(up.allowed_ips.size(), 3u);
  EXPECT_EQ(up.allowed_ips[0].to_string(), "10.1.0.0/16");
  EXPECT_EQ(up.allowed_ips[1].to_string(), "192.168.1.7/32");
  EXPECT_EQ(up.allowed_ips[2].to_string(), "fd00::/8");
}

TEST(ConfigLoader, AllowedIpsErrorsAndWarnings) {
  const auto r = load(with_listener(R"(upstream:
  allowed_ips:
    - 10.0.0.1/8
    - not-an-ip
    - 0.0.0.0/0
    - ::/0
    - [1]
)"));
  EXPECT_TRUE(has_part(r, "t.yaml:4:7: error: upstream.allowed_ips[0]: invalid IP prefix \"10.0.0.1/8\": "));
  EXPECT_TRUE(has_part(r, "t.yaml:5:7: error: upstream.allowed_ips[1]: invalid IP prefix \"not-an-ip\": "));
  EXPECT_TRUE(has(r, "t.yaml:6:7: warning: upstream.allowed_ips[2]: 0.0.0.0/0 allows every address: this disables SSRF protection"));
  EXPECT_TRUE(has(r, "t.yaml:7:7: warning: upstream.allowed_ips[3]: ::/0 allows every address: this disables SSRF protection"));
  EXPECT_TRUE(has(r, "t.yaml:8:7: error: upstream.allowed_ips[4]: expected a string, got a list"));
  EXPECT_EQ(r.error_count(), 3u);
}

TEST(ConfigLoader, EmptyAllowedIpsWarns) {
  const auto r = load(with_listener("upstream: { allowed_ips: [] }\nroutes: {a: http://10.0.0.1:1}\n"));
  ASSERT_TRUE(loads(r));
  EXPECT_TRUE(r.snapshot->upstream.allowed_ips.empty());
  EXPECT_TRUE(r.snapshot->upstream.allowed_ips_set);
  EXPECT_TRUE(has(r, "t.yaml:2:26: warning: upstream.allowed_ips: upstream.allowed_ips is empty: every upstream will be refused"));
}

TEST(ConfigLoader, DisableIpValidationExcludesAllowedIps) {
  const auto r = load(with_listener("upstream:\n  allowed_ips: [10.0.0.0/8]\n  disable_ip_validation: true\n"));
  EXPECT_TRUE(has(r, "t.yaml:4:26: error: upstream.disable_ip_validation: upstream.disable_ip_validation and "
                     "upstream.allowed_ips are mutually exclusive"));
  const auto alone = load(with_listener("upstream: { disable_ip_validation: true }\nroutes: {a: http://x:1}\n"));
  ASSERT_TRUE(loads(alone));
  EXPECT_TRUE(alone.snapshot->upstream.disable_ip_validation);
  EXPECT_TRUE(has_part(alone, "warning: upstream.disable_ip_validation: upstream IP validation is off"));
  EXPECT_TRUE(clean(load(with_listener("upstream: { disable_ip_validation: false, allowed_ips: [10.0.0.0/8] }\nroutes: {a.example: http://x.y:1}\n"))));
}

// ---- scalars: booleans, durations, sizes, workers ------------------------------------

TEST(ConfigLoader, BooleansAreTrueOrFalseOnly) {
  const auto r = load(with_listener(R"(upstream:
  disable_ip_validation: yes
  tls: { include_system_cas: "true" }
routes:
  a: { upstream: "http://a:1", preserve_host: on }
  b: { upstream: "http://a:1", preserve_host: 1 }
)"));
  EXPECT_TRUE(has(r, "t.yaml:3:26: error: upstream.disable_ip_validation: expected a bool (true or false), got "
                     "\"yes\": YAML 1.1 words like yes/no/on/off are not booleans here; write true or false"));
  EXPECT_TRUE(has(r, "t.yaml:4:30: error: upstream.tls.include_system_cas: expected a bool (true or false), got "
                     "the quoted string \"true\"; drop the quotes"));
  EXPECT_TRUE(has_part(r, "t.yaml:6:47: error: routes.a.preserve_host: expected a bool (true or false), got \"on\""));
  EXPECT_TRUE(has(r, "t.yaml:7:47: error: routes.b.preserve_host: expected a bool (true or false), got \"1\""));
  EXPECT_EQ(r.error_count(), 4u);
  const auto ok = load(with_listener("routes:\n  a: { upstream: \"http://a:1\", preserve_host: True }\n"));
  ASSERT_TRUE(loads(ok));
  EXPECT_TRUE(ok.snapshot->routes[0].preserve_host);
}

TEST(ConfigLoader, DurationsSizesAndWorkers) {
  const auto r = load(with_listener(R"(shutdown_timeout: 1m30s
workers: 8
log_level: debug
limits:
  max_request_header_bytes: 32KiB
  max_request_body_bytes: 1GiB
  max_response_header_bytes: 4096
  request_header_timeout: 5s
  request_body_timeout: 500ms
  keepalive_timeout: 2m
routes: { a.example: "http://10.0.0.1:80" }
)"));
  ASSERT_TRUE(clean(r));
  const config& c = *r.snapshot;
  EXPECT_EQ(c.shutdown_timeout, 90s);
  EXPECT_EQ(c.workers, 8u);
  EXPECT_EQ(c.level, log_level::debug);
  EXPECT_EQ(c.limits.max_request_header_bytes, 32u * 1024);
  EXPECT_EQ(c.limits.max_request_body_bytes, 1024u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_response_header_bytes, 4096u);
  EXPECT_EQ(c.limits.request_header_timeout, 5s);
  EXPECT_EQ(c.limits.request_body_timeout, 500ms);
  EXPECT_EQ(c.limits.keepalive_timeout, 120s);
  EXPECT_EQ(load(with_listener("shutdown_timeout: 45\nroutes: {a: http://10.0.0.1:1}\n")).snapshot->shutdown_timeout, 45s);
}

TEST(ConfigLoader, BadDurationsSizesAndWorkers) {
  const auto r = load(with_listener(R"(shutdown_timeout: -5s
workers: 257
limits:
  max_request_header_bytes: 8GiB
  max_request_body_bytes: 0
  max_response_header_bytes: 16KB
  keepalive_timeout: 1 minute
  request_header_timeout: [1]
)"));
  EXPECT_TRUE(has(r, "t.yaml:2:19: error: shutdown_timeout: invalid duration \"-5s\": durations must be >= 0 (e.g. 30s, 1m30s, 500ms)"));
  EXPECT_TRUE(has(r, "t.yaml:3:10: error: workers: expected an integer 0..256, got \"257\""));
  EXPECT_TRUE(has(r, "t.yaml:5:29: error: limits.max_request_header_bytes: size \"8GiB\" is too large (at most 4294967295B)"));
  EXPECT_TRUE(has(r, "t.yaml:6:27: error: limits.max_request_body_bytes: invalid size \"0\": sizes must be greater than 0"));
  EXPECT_TRUE(has(r, "t.yaml:7:30: error: limits.max_response_header_bytes: invalid size \"16KB\": unknown unit \"KB\" (use B, KiB, MiB or GiB)"));
  EXPECT_TRUE(has(r, "t.yaml:8:22: error: limits.keepalive_timeout: invalid duration \"1 minute\": unknown unit \" minute\" (use ns, us, ms, s, m or h)"));
  EXPECT_TRUE(has(r, "t.yaml:9:27: error: limits.request_header_timeout: expected a duration (e.g. 30s, 1m30s, 500ms), got a list"));
  EXPECT_EQ(r.error_count(), 7u);
}

TEST(ConfigLoader, WrongTypesSayWhatWasExpected) {
  const auto r = load(with_listener(R"(log_level: [debug]
tunnel_domain: { a: 1 }
upstream: 5
limits:
tls: [a]
workers: four
)"));
  EXPECT_TRUE(has(r, "t.yaml:2:12: error: log_level: expected a string, got a list"));
  EXPECT_TRUE(has(r, "t.yaml:3:16: error: tunnel_domain: expected a string, got a map"));
  EXPECT_TRUE(has(r, "t.yaml:4:11: error: upstream: expected a map, got \"5\""));
  EXPECT_TRUE(has(r, "t.yaml:5:1: error: limits: expected a map, got null"));
  EXPECT_TRUE(has(r, "t.yaml:6:6: error: tls: expected a map, got a list"));
  EXPECT_TRUE(has(r, "t.yaml:7:10: error: workers: expected an integer 0..256, got \"four\""));
  EXPECT_EQ(r.error_count(), 6u);
}

TEST(ConfigLoader, LogFormatAndFiles) {
  const auto defaults = load(with_listener(""));
  ASSERT_TRUE(loads(defaults));
  const auto& d = defaults.snapshot->logs;
  EXPECT_FALSE(d.format.has_value());
  EXPECT_EQ(d.process_format(), log_format::text);
  EXPECT_EQ(d.access_format(), log_format::json);  // as before log_format existed
  EXPECT_EQ(d.file, "");
  EXPECT_EQ(d.access_file, "");

  const auto r = load(with_listener("log_format: json\nlog_file: /var/log/mcpgate/gateway.log\n"
                                    "access_log_file: /var/log/mcpgate/access.log\n"));
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.diagnostics.size(), 1u) << testing::rendered(r);  // "no routes" only
  const auto& l = r.snapshot->logs;
  EXPECT_EQ(l.process_format(), log_format::json);
  EXPECT_EQ(l.access_format(), log_format::json);
  EXPECT_EQ(l.file, "/var/log/mcpgate/gateway.log");
  EXPECT_EQ(l.access_file, "/var/log/mcpgate/access.log");

  const auto text = load(with_listener("log_format: text\n"));
  ASSERT_TRUE(loads(text));
  EXPECT_EQ(text.snapshot->logs.access_format(), log_format::text);  // set: both logs follow it
}

TEST(ConfigLoader, BadLogFormatAndFiles) {
  const auto r = load(with_listener("log_format: JSON\nlog_file: \"\"\naccess_log_file: [a]\n"));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r, "t.yaml:2:13: error: log_format: invalid log format \"JSON\" (expected one of: text, json)"));
  EXPECT_TRUE(has(r, "t.yaml:3:11: error: log_file: expected a file path, or \"-\" for stderr"));
  EXPECT_TRUE(has(r, "t.yaml:4:18: error: access_log_file: expected a string, got a list"));
  EXPECT_EQ(r.error_count(), 3u);
}

TEST(ConfigLoader, InvalidLogLevel) {
  EXPECT_TRUE(has(load(with_listener("log_level: verbose\n")),
                  "t.yaml:2:12: error: log_level: invalid log level \"verbose\" (expected one of: debug, info, warn, error)"));
}

// ---- keys ---------------------------------------------------------------------------

TEST(ConfigLoader, UnknownTopLevelKey) {
  const auto r = load(with_listener("listen_adr: \":8080\"\n"));
  EXPECT_TRUE(has(r, "t.yaml:2:1: error: listen_adr: unknown key \"listen_adr\" (did you mean \"listen_addr\"?); "
                     "allowed keys: listen_addr, log_level, log_format, log_file, access_log_file, shutdown_timeout, "
                     "tunnel_domain, tls, routes, upstream, "
                     "listeners, limits, workers, trusted_proxies, ip_sets, audit, session_affinity, tunnel, api_keys, admin"));
  EXPECT_TRUE(has(load(with_listener("frobnicate: 1\n")),
                  "t.yaml:2:1: error: frobnicate: unknown key \"frobnicate\"; allowed keys: listen_addr, log_level, "
                  "log_format, log_file, access_log_file, shutdown_timeout, tunnel_domain, tls, routes, upstream, listeners, limits, workers, trusted_proxies, ip_sets, audit, session_affinity, tunnel, api_keys, admin"));
}

TEST(ConfigLoader, UnknownNestedKeys) {
  const auto r = load(R"(listeners:
  - { adress: "127.0.0.1:1" }
tls: { cert: /c }
routes:
  a: { upstream: "http://a:1", pathh: /x }
upstream:
  tls: { ca_fil: /x }
  allowed: []
limits:
  max_body: 1
)");
  EXPECT_TRUE(has(r, "t.yaml:2:7: error: listeners[0].adress: unknown key \"adress\" (did you mean \"address\"?); "
                     "allowed keys: address, mode, tls, allow, deny, dry_run, proxy_protocol, max_connections, "
                     "max_connections_per_client"));
  EXPECT_TRUE(has(r, "t.yaml:3:8: error: tls.cert: unknown key \"cert\"; allowed keys: cert_file, key_file, poll_interval, client_ca_file, client_auth"));
  EXPECT_TRUE(has(r, "t.yaml:5:32: error: routes.a.pathh: unknown key \"pathh\" (did you mean \"path\"?); allowed "
                     "keys: path, upstream, connect_timeout, response_header_timeout, stream_idle_timeout, preserve_host, allow, deny, action, dry_run, "
                     "allowed_origins, rate_limit, limits, mcp, tools, prompts, resources, strip_path, upstreams, health_check, auth, upstream_auth"));
  EXPECT_TRUE(has(r, "t.yaml:7:10: error: upstream.tls.ca_fil: unknown key \"ca_fil\" (did you mean \"ca_file\"?); "
                     "allowed keys: ca_file, include_system_cas"));
  EXPECT_TRUE(has_part(r, "t.yaml:8:3: error: upstream.allowed: unknown key \"allowed\"; allowed keys: allowed_ips,"));
  EXPECT_TRUE(has_part(r, "t.yaml:10:3: error: limits.max_body: unknown key \"max_body\"; allowed keys: max_request_header_bytes,"));
}

TEST(ConfigLoader, DuplicateKeys) {
  const auto r = load(with_listener("log_level: info\nlog_level: debug\n"));
  EXPECT_TRUE(has(r, "t.yaml:3:1: error: log_level: duplicate key \"log_level\""));
}

// ---- tunnel_domain ------------------------------------------------------------------

TEST(ConfigLoader, TunnelDomainIsNormalised) {
  const auto r = load(with_listener("tunnel_domain: .ABCD.Tunnel.Example.com.\nroutes: {a: http://10.0.0.1:1}\n"));
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.snapshot->tunnel_domain, "abcd.tunnel.example.com");
  EXPECT_TRUE(has_part(load(with_listener("tunnel_domain: \"a b.com\"\n")),
                       "t.yaml:2:16: error: tunnel_domain: invalid tunnel domain \"a b.com\""));
}

TEST(ConfigLoader, TunnelDomainFlagOverridesTheKey) {
  overrides over;
  over.tunnel_domain = "Flag.Example.com.";
  const auto r = load(with_listener("tunnel_domain: key.example.com\nroutes: {a: http://10.0.0.1:1}\n"), over);
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.snapshot->tunnel_domain, "flag.example.com");

  const auto without_key = load(with_listener("routes: {a: http://10.0.0.1:1}\n"), over);
  ASSERT_TRUE(clean(without_key));  // the bare-subdomain warning knows about the flag
  EXPECT_EQ(without_key.snapshot->tunnel_domain, "flag.example.com");

  over.tunnel_domain = "bad/domain";
  EXPECT_TRUE(has_part(load(with_listener(""), over), "t.yaml: error: tunnel_domain: -tunnel-domain: invalid tunnel domain"));
}

// ---- whole files, syntax, robustness ------------------------------------------------

TEST(ConfigLoader, ReportsEveryErrorAtOnceInFileOrder) {
  const std::string path = source_path("tests/unit/config/bad/many_errors.yaml");
  const auto r = load_file(path);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error_count(), 15u);
  EXPECT_TRUE(has(r, path + ":1:14: error: listen_addr: invalid address \"8080\": missing :port (expected host:port, "
                            "e.g. \":8080\" or \"127.0.0.1:8080\")"));
  EXPECT_TRUE(has(r, path + ":22:1: error: extra: unknown key \"extra\"; allowed keys: listen_addr, log_level, "
                            "log_format, log_file, access_log_file, shutdown_timeout, tunnel_domain, tls, routes, upstream, listeners, limits, workers, trusted_proxies, ip_sets, audit, session_affinity, tunnel, api_keys, admin"));
  int last_line = 0;
  for (const auto& d : r.diagnostics) {
    EXPECT_GE(d.line, last_line) << d.to_string();
    last_line = d.line;
  }
}

TEST(ConfigLoader, YamlSyntaxErrorHasLineAndColumn) {
  const auto r = load("listen_addr: \":8080\"\nroutes:\n  echo: [http://a:1\n");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].line, 4);
  EXPECT_EQ(r.diagnostics[0].column, 1);
  EXPECT_TRUE(has(r, "t.yaml:4:1: error: YAML syntax error: end of sequence flow not found"));
  EXPECT_TRUE(has_part(load("a: b\n  c: d\n"), "t.yaml:2:4: error: YAML syntax error: "));
  EXPECT_TRUE(has_part(load("a: b: c\n"), "t.yaml:1:5: error: YAML syntax error: "));
  // yaml-cpp 0.7 alone would loop forever on this one (found by fuzzing).
  EXPECT_TRUE(has(load(", a: b\n"), "t.yaml:1:1: error: YAML syntax error: unexpected \",\""));
}

TEST(ConfigLoader, TopLevelMustBeAMapAndOneDocument) {
  EXPECT_TRUE(has(load("- a\n- b\n"), "t.yaml:1:1: error: expected a map of settings at the top level, got a list"));
  EXPECT_TRUE(has(load("just text\n"), "t.yaml:1:1: error: expected a map of settings at the top level, got \"just text\""));
  EXPECT_TRUE(has_part(load(with_listener("---\nlog_level: info\n")), "t.yaml:2:1: error: a config file holds one YAML document; found more"));
}

TEST(ConfigLoader, MissingAndUnreadableFiles) {
  auto r = load_file("/nonexistent/mcpgate.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r, "/nonexistent/mcpgate.yaml: error: cannot read config file: No such file or directory"));
  r = load_file(testing::source_dir().string());
  EXPECT_TRUE(has_part(r, ": error: cannot read config file: it is a directory"));
}

TEST(ConfigLoader, NeverThrowsOnOddInput) {
  const char* inputs[] = {
      "\xff\xfe\x00\x01",
      "&a [*a]",
      "a: &x {b: *x}",
      "routes: &r {x: *r}",
      "? [a, b]\n: c\n",
      "listeners: [&l {address: \"127.0.0.1:1\"}, *l]\n",
      "!!binary aGVsbG8=",
      "listen_addr: !!int 8080\n",
      "routes: {\"\": http://a:1}\n",
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
  };
  for (const char* in : inputs) {
    EXPECT_NO_THROW({
      const auto r = load(in);
      EXPECT_FALSE(r.ok()) << in;
      EXPECT_GT(r.error_count(), 0u) << in;
    });
  }
}

TEST(ConfigLoader, DiagnosticToStringFormats) {
  diagnostic d;
  d.file = "f.yaml";
  d.line = 3;
  d.column = 7;
  d.key_path = "routes.echo";
  d.message = "bad";
  EXPECT_EQ(d.to_string(), "f.yaml:3:7: error: routes.echo: bad");
  d.level = diagnostic::severity::warning;
  d.line = 0;
  EXPECT_EQ(d.to_string(), "f.yaml: warning: routes.echo: bad");
  d.key_path.clear();
  d.file.clear();
  EXPECT_EQ(d.to_string(), "<config>: warning: bad");
}

}  // namespace
}  // namespace mcpgate::config

namespace mcpgate::config {
namespace {

using testing::has;
using testing::has_part;
using testing::loads;

TEST(ConfigLoader, TrustedProxiesDefaultToLoopbackAndASettingReplacesThem) {
  const auto defaults = load_string("listeners: [{ address: \":8080\" }]\n", "t.yaml");
  ASSERT_TRUE(loads(defaults));
  ASSERT_EQ(defaults.snapshot->trusted_proxies.size(), 2u);
  EXPECT_EQ(defaults.snapshot->trusted_proxies[0].to_string(), "127.0.0.0/8");
  EXPECT_EQ(defaults.snapshot->trusted_proxies[1].to_string(), "::1/128");

  const auto set = load_string("listeners: [{ address: \":8080\" }]\ntrusted_proxies: [10.9.0.0/16]\n", "t.yaml");
  ASSERT_TRUE(loads(set));
  ASSERT_EQ(set.snapshot->trusted_proxies.size(), 1u);
  EXPECT_EQ(set.snapshot->trusted_proxies[0].to_string(), "10.9.0.0/16");

  const auto bad = load_string(R"(listeners: [{ address: ":8080" }]
trusted_proxies:
  - nonsense
  - 0.0.0.0/0
)",
                               "t.yaml");
  EXPECT_TRUE(has_part(bad, "t.yaml:3:5: error: trusted_proxies[0]: invalid IP prefix \"nonsense\": "));
  EXPECT_TRUE(has(bad, "t.yaml:4:5: warning: trusted_proxies[1]: 0.0.0.0/0 trusts every peer: any client can then "
                       "claim any address"));
  const auto scalar = load_string("listeners: [{ address: \":8080\" }]\ntrusted_proxies: 127.0.0.1\n", "t.yaml");
  EXPECT_TRUE(has_part(scalar, "t.yaml:2:18: error: trusted_proxies: expected a list of IP prefixes"));
}

TEST(ConfigLoader, CertificatePollInterval) {
  const auto r = load_string(R"(listen_addr: ":8080"
tls: { cert_file: /d/tls.crt, key_file: /d/tls.key, poll_interval: 30s }
listeners: [{ address: ":8443", mode: tls, tls: { cert_file: /o.crt, key_file: /o.key, poll_interval: 0s } }]
)",
                             "t.yaml");
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.snapshot->listeners[0].tls.poll_interval, std::chrono::seconds(30));
  EXPECT_EQ(r.snapshot->listeners[1].tls.poll_interval, std::chrono::seconds(0));
  const auto bad = load_string("listen_addr: \":8080\"\ntls: { cert_file: a, key_file: b, poll_interval: often }\n", "t.yaml");
  EXPECT_TRUE(has_part(bad, "t.yaml:2:50: error: tls.poll_interval: "));
}

}  // namespace
}  // namespace mcpgate::config
