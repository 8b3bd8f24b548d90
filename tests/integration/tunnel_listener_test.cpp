// Anthropic mcp-proxy's listener (`listen_addr`): a plaintext WebSocket whose binary stream
// carries the client's TLS. These tests play cloudflared (the WebSocket upgrade, with the
// client address it reports) and Anthropic's backend (a verifying TLS client inside it,
// SNI <route>.<tunnel_domain>), as the real ones do.
#include <filesystem>
#include <future>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/test_pki.hpp"
#include "support/wait.hpp"
#include "config/loader.hpp"

namespace mcpgate::test {
namespace {

using namespace std::chrono_literals;
constexpr const char* domain = "abcd1234.tunnel.example.test";

// Anthropic's quickstart config, on loopback port 0, plus `extra` top-level keys.
std::string tunnel_config(const test_pki& pki, std::uint16_t upstream_port, const std::string& extra = {}) {
  return fmt::format(R"(
listen_addr: "127.0.0.1:0"
log_level: info
tunnel_domain: {}
tls:
  cert_file: "{}"
  key_file: "{}"
routes:
  echo: http://127.0.0.1:{}
upstream:
  allowed_ips: [127.0.0.0/8]
workers: 2
{}
)",
                     domain, pki.server_cert, pki.server_key, upstream_port, extra);
}

std::string host_of(const std::string& route) { return route + "." + domain; }

TEST(TunnelListener, RequestInsideWebSocketAndInnerTlsReachesTheRouteOfItsSubdomain) {
  test_pki pki({domain, std::string("*.") + domain});
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(tunnel_config(pki, upstream.port()));

  http_test_client client;
  client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert);
  // Keep-alive inside one tunnelled connection, as Anthropic's backend reuses it.
  for (int i = 0; i < 3; ++i) {
    auto res = client.request(mcp_post(fmt::format("{{\"n\":{}}}", i), host_of("echo")));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), fmt::format("echo:{{\"n\":{}}}", i));
  }
  ASSERT_EQ(seen->size(), 3u);
  const auto req = seen->at(0);
  EXPECT_EQ(req[bhttp::field::host], fmt::format("127.0.0.1:{}", upstream.port()));
  EXPECT_EQ(req["X-Forwarded-Proto"], "https");
  EXPECT_EQ(req["X-Forwarded-Host"], host_of("echo"));
  EXPECT_EQ(req["X-Forwarded-For"], "127.0.0.1");  // no reported client address: the peer
  EXPECT_EQ(upstream.connections_accepted(), 1);
}

TEST(TunnelListener, UnknownSubdomainGets502NoRouteConfiguredForHost) {
  test_pki pki({std::string("*.") + domain});
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(tunnel_config(pki, upstream.port()));
  http_test_client client;
  client.connect_tunnel("127.0.0.1", gw.port(), host_of("wiki"), pki.ca_cert);
  auto res = client.request(mcp_post("{}", host_of("wiki")));
  EXPECT_EQ(res.result_int(), 502);
  EXPECT_EQ(res.body(), "No route configured for host\n");
  EXPECT_EQ(upstream.connections_accepted(), 0);
}

TEST(TunnelListener, ClientAddressFromCloudflaredIsBelievedOnlyFromATrustedPeer) {
  test_pki pki({std::string("*.") + domain});
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  const std::vector<std::pair<std::string, std::string>> cloudflared_headers{
      {"Cf-Connecting-Ip", "203.0.113.7"}, {"X-Forwarded-For", "198.51.100.1"}};
  {
    gateway_harness gw(tunnel_config(pki, upstream.port()));  // default: loopback is trusted
    http_test_client client;
    client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert, cloudflared_headers);
    EXPECT_EQ(client.request(mcp_post("{}", host_of("echo"))).result_int(), 200);
    client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert, {{"X-Forwarded-For", "198.51.100.1, 192.0.2.9"}});
    EXPECT_EQ(client.request(mcp_post("{}", host_of("echo"))).result_int(), 200);
    client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert, {{"Cf-Connecting-Ip", "not-an-ip"}});
    EXPECT_EQ(client.request(mcp_post("{}", host_of("echo"))).result_int(), 200);
  }
  {
    gateway_harness gw(tunnel_config(pki, upstream.port(), "trusted_proxies: [10.0.0.0/8]"));
    http_test_client client;
    client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert, cloudflared_headers);
    EXPECT_EQ(client.request(mcp_post("{}", host_of("echo"))).result_int(), 200);
  }
  ASSERT_EQ(seen->size(), 4u);
  EXPECT_EQ(seen->at(0)["X-Forwarded-For"], "203.0.113.7");  // Cf-Connecting-Ip wins
  EXPECT_EQ(seen->at(1)["X-Forwarded-For"], "192.0.2.9");    // else the last X-Forwarded-For hop
  EXPECT_EQ(seen->at(2)["X-Forwarded-For"], "127.0.0.1");    // garbage is ignored
  EXPECT_EQ(seen->at(3)["X-Forwarded-For"], "127.0.0.1");    // untrusted peer: its claim is ignored
}

TEST(TunnelListener, DirectHttpsAndPlainHttpToThePortFail) {
  test_pki pki({std::string("*.") + domain});
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(tunnel_config(pki, upstream.port()));
  {
    // `curl https://proxy:8080` fails ("wrong version number"): the port speaks plain HTTP.
    http_test_client client(3s);
    EXPECT_THROW(client.connect_tls("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert), boost::system::system_error);
  }
  {
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    auto res = client.request(mcp_post("{}", host_of("echo")));
    EXPECT_EQ(res.result_int(), 426);
    EXPECT_EQ(res[http::field::upgrade], "websocket");
  }
  EXPECT_EQ(upstream.connections_accepted(), 0);
}

TEST(TunnelListener, InnerTlsWithAnUnregisteredCaFailsAndTheListenerKeepsServing) {
  test_pki pki({std::string("*.") + domain});
  test_pki other({std::string("*.") + domain});
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(tunnel_config(pki, upstream.port()));
  http_test_client client(3s);
  EXPECT_THROW(client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), other.ca_cert),
               boost::system::system_error);
  // A name the certificate does not cover fails verification too.
  EXPECT_THROW(client.connect_tunnel("127.0.0.1", gw.port(), "echo.elsewhere.test", pki.ca_cert),
               boost::system::system_error);
  client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert);
  EXPECT_EQ(client.request(mcp_post("{}", host_of("echo"))).result_int(), 200);
}

TEST(TunnelListener, SseEventsCrossTheTunnelAsTheyArrive) {
  std::promise<void> first_seen_promise;
  auto first_seen = first_seen_promise.get_future().share();
  fake_upstream upstream([first_seen](tcp::socket& s) {
    if (!answer_with_event_stream(s)) return;
    write_raw(s, chunk("id: 1\ndata: first\n\n"));
    if (first_seen.wait_for(10s) != std::future_status::ready) return;  // a buffering gateway fails here
    write_raw(s, chunk("id: 2\ndata: second\n\n"));
    write_raw(s, chunk(""));
  });
  test_pki pki({std::string("*.") + domain});
  gateway_harness gw(tunnel_config(pki, upstream.port()));
  http_test_client client(5s);
  client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert);
  client.send(mcp_post("{}", host_of("echo")));
  EXPECT_EQ(client.read_header()[http::field::content_type], "text/event-stream");
  auto first = client.read_sse_event();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->data, "first");
  first_seen_promise.set_value();
  auto second = client.read_sse_event();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->data, "second");
  EXPECT_FALSE(client.read_sse_event());
}

// The far side going away, in the two ways it shows up on the tunnel connection.
enum class departure { tcp_close, websocket_close };

void expect_upstream_released_when_client_leaves(departure how) {
  auto probe = std::make_shared<unanswered_request>();
  fake_upstream upstream(never_answer(probe));
  test_pki pki({std::string("*.") + domain});
  gateway_harness gw(tunnel_config(pki, upstream.port()));
  http_test_client client;
  client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert);
  client.send(mcp_post("{}", host_of("echo")));
  ASSERT_EQ(probe->arrived.wait_for(5s), std::future_status::ready);
  if (how == departure::websocket_close) {
    client.send_websocket_close();
  } else {
    client.close();
  }
  EXPECT_EQ(probe->closed.wait_for(5s), std::future_status::ready);
}

TEST(TunnelListener, ClientClosingTheTcpConnectionReleasesTheUpstream) {
  expect_upstream_released_when_client_leaves(departure::tcp_close);
}

TEST(TunnelListener, WebSocketCloseFrameReleasesTheUpstream) {
  expect_upstream_released_when_client_leaves(departure::websocket_close);
}

// Replaces a file the way `mcpgate certs renew` and Kubernetes do: write aside, rename over.
void replace_file(const std::string& from, const std::string& to) {
  const std::string tmp = to + ".tmp";
  std::filesystem::copy_file(from, tmp, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::rename(tmp, to);
}

TEST(TunnelListener, RenewedCertificateIsPickedUpWithoutRestart) {
  test_pki first({std::string("*.") + domain});
  test_pki second({std::string("*.") + domain});  // another CA: tells the two apart
  const std::string dir = make_temp_dir("mcpgate-certpoll-");
  const std::string cert = dir + "/tls.crt";
  const std::string key = dir + "/tls.key";
  std::filesystem::copy_file(first.server_cert, cert);
  std::filesystem::copy_file(first.server_key, key);
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(fmt::format(R"(
listen_addr: "127.0.0.1:0"
tunnel_domain: {}
tls: {{ cert_file: "{}", key_file: "{}", poll_interval: 50ms }}
routes: {{ echo: "http://127.0.0.1:{}" }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                 domain, cert, key, upstream.port()));
  auto served_by = [&](const test_pki& pki) {
    try {
      http_test_client client(3s);
      client.connect_tunnel("127.0.0.1", gw.port(), host_of("echo"), pki.ca_cert);
      return client.request(mcp_post("{}", host_of("echo"))).result_int() == 200;
    } catch (const boost::system::system_error&) {
      return false;
    }
  };
  ASSERT_TRUE(served_by(first));
  ASSERT_FALSE(served_by(second));

  // Half a renewal (new certificate, old key) cannot be used: the old pair keeps serving.
  replace_file(second.server_cert, cert);
  ASSERT_TRUE(wait_until([&] { return gw.gateway().poll_certificates() == 0; }));
  EXPECT_TRUE(served_by(first));
  EXPECT_EQ(gw.gateway().certificate_reloads(), 0u);

  replace_file(second.server_key, key);
  ASSERT_TRUE(wait_until([&] { return gw.gateway().certificate_reloads() == 1; }));
  EXPECT_TRUE(served_by(second));
  EXPECT_FALSE(served_by(first));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mcpgate::test

namespace mcpgate::test {
namespace {

// Every config from Anthropic's tunnel docs (examples/anthropic/) is served as written:
// only what cannot exist in a test is swapped (port 8080 -> loopback port 0, the /data
// certificate -> a test PKI, each upstream -> a local echo server that the allow list admits).
class AnthropicExample : public ::testing::TestWithParam<std::string> {};

TEST_P(AnthropicExample, IsServedThroughTheTunnelListener) {
  const char* source_dir = std::getenv("MCPGATE_SOURCE_DIR");
  ASSERT_NE(source_dir, nullptr) << "MCPGATE_SOURCE_DIR is set by ctest";
  const std::string path = std::string(source_dir) + "/examples/anthropic/" + GetParam();
  auto loaded = config::load_file(path);
  ASSERT_TRUE(loaded.ok()) << path;
  auto cfg = std::make_shared<config::config>(*loaded.snapshot);
  ASSERT_FALSE(cfg->tunnel_domain.empty());
  const std::string tunnel_domain = cfg->tunnel_domain;

  test_pki pki({tunnel_domain, "*." + tunnel_domain});
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  ASSERT_EQ(cfg->listeners.size(), 1u);
  auto& listener = cfg->listeners[0];
  EXPECT_EQ(listener.mode, config::listener_mode::ws);
  EXPECT_TRUE(listener.from_listen_addr);
  listener.bind_host = "127.0.0.1";
  listener.port = 0;
  listener.tls.cert_file = pki.server_cert;
  listener.tls.key_file = pki.server_key;
  for (auto& route : cfg->routes) route.upstream = {"http", "127.0.0.1", upstream.port()};
  cfg->upstream.allowed_ips.push_back(*net::ip_prefix::parse("127.0.0.0/8"));
  cfg->upstream.disable_ip_validation = false;
  gateway_harness gw(std::static_pointer_cast<const config::config>(cfg));

  for (const auto& route : cfg->routes) {
    const std::string host = route.host_key + "." + tunnel_domain;
    http_test_client client;
    client.connect_tunnel("127.0.0.1", gw.port(), host, pki.ca_cert, {{"Cf-Connecting-Ip", "160.79.104.10"}});
    auto res = client.request(mcp_post("{\"route\":\"" + route.name + "\"}", host));
    EXPECT_EQ(res.result_int(), 200) << host;
    EXPECT_EQ(res.body(), "echo:{\"route\":\"" + route.name + "\"}");
  }
  ASSERT_EQ(seen->size(), cfg->routes.size());
  EXPECT_EQ(seen->at(0)["X-Forwarded-For"], "160.79.104.10");
}

INSTANTIATE_TEST_SUITE_P(Docs, AnthropicExample,
                         ::testing::Values("quickstart.yaml", "compose.yaml", "helm-rendered.yaml",
                                           "oauth-split-discovery.yaml"),
                         [](const auto& info) {
                           std::string name = info.param.substr(0, info.param.find('.'));
                           std::erase(name, '-');
                           return name;
                         });

}  // namespace
}  // namespace mcpgate::test
