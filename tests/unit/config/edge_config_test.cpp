#include <gtest/gtest.h>

#include <string>

#include "config/loader.hpp"

namespace mcpgate::config {
namespace {

const std::string minimal = R"(
tls: { cert_file: /etc/mcpgate/edge.crt, key_file: /etc/mcpgate/edge.key }
base_domain: Tunnels.Example.COM.
)";

std::string errors_of(const edge_load_result& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.to_string() + "\n";
  return out;
}

TEST(EdgeConfig, DefaultsAroundTheRequiredKeys) {
  const auto r = load_edge_string(minimal, "edge.yaml");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  const auto& c = *r.snapshot;
  EXPECT_EQ(c.listen.address, ":443");
  EXPECT_EQ(c.listen.port, 443);
  EXPECT_EQ(c.listen.bind_host, "");
  EXPECT_EQ(c.connector_listen.address, ":7844");
  EXPECT_EQ(c.connector_listen.port, 7844);
  EXPECT_EQ(c.base_domain, "tunnels.example.com");
  EXPECT_EQ(c.registry, "/var/lib/mcpgate/edge.db");
  EXPECT_EQ(c.client_hello_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.max_client_hello_bytes, 16u * 1024);
  EXPECT_EQ(c.stream_window, 4u << 20);
  EXPECT_EQ(c.ping_interval, std::chrono::seconds(15));
  EXPECT_EQ(c.ping_misses, 2u);
  EXPECT_TRUE(c.allowed_client_ips.empty());
}

TEST(EdgeConfig, EveryKeyRead) {
  const auto r = load_edge_string(minimal + R"(
listen: "0.0.0.0:8443"
connector_listen: "[::]:7000"
registry: /srv/edge.db
log_level: debug
shutdown_timeout: 5s
client_hello_timeout: 3s
max_client_hello_bytes: 8KiB
allowed_client_ips: [160.79.104.0/21]
connectors: { stream_window: 1MiB, connection_window: 32MiB, ping_interval: 5s, ping_misses: 3,
              handshake_timeout: 2s, stream_open_attempts: 2 }
)");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  const auto& c = *r.snapshot;
  EXPECT_EQ(c.listen.address, "0.0.0.0:8443");
  EXPECT_EQ(c.listen.bind_host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 8443);
  EXPECT_EQ(c.connector_listen.address, "[::]:7000");
  EXPECT_EQ(c.connector_listen.bind_host, "::");
  EXPECT_EQ(c.registry, "/srv/edge.db");
  EXPECT_EQ(c.level, log_level::debug);
  EXPECT_EQ(c.max_client_hello_bytes, 8u * 1024);
  ASSERT_EQ(c.allowed_client_ips.size(), 1u);
  EXPECT_EQ(c.allowed_client_ips[0].to_string(), "160.79.104.0/21");
  EXPECT_EQ(c.stream_window, 1u << 20);
  EXPECT_EQ(c.connection_window, 32u << 20);
  EXPECT_EQ(c.ping_misses, 3u);
  EXPECT_EQ(c.stream_open_attempts, 2u);
}

TEST(EdgeConfig, MistakesAreErrorsWithTheKey) {
  const struct {
    std::string yaml;
    std::string expected;
  } cases[] = {
      {"tls: { cert_file: a, key_file: b }\n", "base_domain: base_domain is required"},
      {"base_domain: t.example.com\n", "tls: tls.cert_file and tls.key_file are required"},
      {minimal + "listn: \":443\"\n", "unknown key \"listn\" (did you mean \"listen\"?)"},
      {minimal + "listen: 443\n", "listen: invalid address"},
      {minimal + "max_client_hello_bytes: 100\n", "at least 512 bytes"},
      {minimal + "connectors: { ping_misses: 0 }\n", "connectors.ping_misses: expected an integer 1..10"},
      {minimal + "connectors: { stream_window: 1KiB }\n", "connectors.stream_window: must be at least 64KiB"},
      {minimal + "allowed_client_ips: [300.1.1.1/8]\n", "allowed_client_ips[0]: invalid IP prefix"},
      {"base_domain: \"bad domain\"\ntls: { cert_file: a, key_file: b }\n", "invalid tunnel domain"},
  };
  for (const auto& c : cases) {
    const auto r = load_edge_string(c.yaml, "edge.yaml");
    EXPECT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(errors_of(r).find(c.expected), std::string::npos) << c.yaml << "\n-> " << errors_of(r);
  }
}

}  // namespace
}  // namespace mcpgate::config

namespace mcpgate::config {
namespace {

// The gateway's `tunnel:` section (the connector in-process).
const std::string tls_listener = R"(
listeners: [ { address: "127.0.0.1:8443", mode: tls } ]
tls: { cert_file: /c.crt, key_file: /c.key }
routes: { echo: "http://10.0.0.1:3000" }
)";

TEST(GatewayTunnelSection, ReadsEveryKey) {
  const auto r = load_string(tls_listener + R"(
tunnel: { edge: "edge.example.com:7844", token_file: /etc/mcpgate/tunnel.token, edge_ca: /ca.crt,
          server_name: edge.example.com, connections: 2, listener: "127.0.0.1:8443" }
)");
  std::string errors;
  for (const auto& d : r.diagnostics) errors += d.to_string() + "\n";
  ASSERT_TRUE(r.ok()) << errors;
  const auto& t = r.snapshot->tunnel;
  EXPECT_TRUE(t.enabled);
  EXPECT_EQ(t.edge, "edge.example.com:7844");
  EXPECT_EQ(t.token_file, "/etc/mcpgate/tunnel.token");
  EXPECT_EQ(t.edge_ca, "/ca.crt");
  EXPECT_EQ(t.connections, 2u);
  EXPECT_EQ(t.listener, "127.0.0.1:8443");
  EXPECT_NE(summarize(*r.snapshot).find("tunnel: connector to edge edge.example.com:7844"), std::string::npos);
}

TEST(GatewayTunnelSection, MistakesAreErrors) {
  const struct {
    std::string yaml;
    std::string expected;
  } cases[] = {
      {tls_listener + "tunnel: { token_file: /t }\n", "tunnel.edge is required"},
      {tls_listener + "tunnel: { edge: \"e:7844\" }\n", "tunnel.token_file is required"},
      {tls_listener + "tunnel: { edge: \"7844\", token_file: /t }\n", "expected HOST:PORT"},
      {tls_listener + "tunnel: { edge: \"e:7844\", token_file: /t, connections: 0 }\n", "expected an integer 1..64"},
      {tls_listener + "tunnel: { edge: \"e:7844\", token_file: /t, listener: \"127.0.0.1:1\" }\n",
       "no listener has the address"},
      {"listeners: [ { address: \"127.0.0.1:8080\", mode: plain } ]\nroutes: { echo: \"http://10.0.0.1:3000\" }\n"
       "tunnel: { edge: \"e:7844\", token_file: /t }\n",
       "the tunnel needs a tls or ws listener"},
      {tls_listener + "tunnel: { edge: \"e:7844\", token_file: /t, tokenfile: x }\n", "unknown key \"tokenfile\""},
  };
  for (const auto& c : cases) {
    const auto r = load_string(c.yaml);
    std::string errors;
    for (const auto& d : r.diagnostics) errors += d.to_string() + "\n";
    EXPECT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(errors.find(c.expected), std::string::npos) << c.yaml << "\n-> " << errors;
  }
}

}  // namespace
}  // namespace mcpgate::config
