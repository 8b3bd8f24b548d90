// The admin listener through real sockets: health and readiness, what /metrics and
// /status.json say after real exchanges (counted per worker, added up on scrape), the key
// and allow list in front of them, and the reload history.
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "auth/api_key.hpp"
#include "core/base64.hpp"
#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/promtool.hpp"
#include "support/test_pki.hpp"
#include "support/wait.hpp"

namespace mcpgate::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// Two routes by host: open.test admits everyone, locked.test only Claude's range (so every
// request from loopback is a denial). `admin` is the admin section's body.
std::string admin_config(std::uint16_t upstream_port, const std::string& admin, const std::string& listener_extra = {}) {
  return fmt::format(R"(
listeners:
  - {{ address: "127.0.0.1:0" {} }}
routes:
  open.test: {{ upstream: "http://127.0.0.1:{}" }}
  locked.test: {{ upstream: "http://127.0.0.1:{}", allow: [160.79.104.0/21] }}
upstream:
  allowed_ips: [127.0.0.0/8]
workers: 2
admin: {}
)",
                     listener_extra, upstream_port, upstream_port, admin);
}

// admin_config with a tls listener serving the test PKI's server certificate.
std::string tls_admin_config(const test_pki& pki, std::uint16_t upstream_port) {
  return admin_config(upstream_port, "{ listen: 127.0.0.1:0 }",
                      fmt::format(R"(, mode: tls, tls: {{ cert_file: "{}", key_file: "{}" }})", pki.server_cert,
                                  pki.server_key));
}

std::uint16_t admin_port(gateway_harness& gw) {
  const auto ep = gw.gateway().admin_endpoint();
  if (!ep) throw std::runtime_error("no admin listener");
  return ep->port();
}

http::response<http::string_body> admin_get(std::uint16_t port, std::string_view target,
                                            std::string_view authorization = {}) {
  http_test_client client;
  client.connect("127.0.0.1", port);
  auto req = make_request(http::verb::get, target, "127.0.0.1");
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  return client.request(std::move(req));
}

unsigned post_to(std::uint16_t port, const std::string& host, const std::string& body = "{}") {
  http_test_client client;
  client.connect("127.0.0.1", port);
  return client.request(mcp_post(body, host)).result_int();
}

// The value of the sample whose line starts with `series` (name and labels, exactly as
// written), or -1 when there is none.
double sample(const std::string& metrics, const std::string& series) {
  std::size_t at = 0;
  while ((at = metrics.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || metrics[at - 1] == '\n') return std::stod(metrics.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

TEST(Admin, HealthReadinessAndUnknownPaths) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(admin_config(upstream.port(), "{ listen: 127.0.0.1:0 }"));
  const auto port = admin_port(gw);
  auto health = admin_get(port, "/healthz");
  EXPECT_EQ(health.result_int(), 200);
  EXPECT_EQ(health.body(), "ok\n");
  EXPECT_EQ(admin_get(port, "/readyz").result_int(), 200);
  EXPECT_EQ(admin_get(port, "/nothing").result_int(), 404);
  http_test_client client;
  client.connect("127.0.0.1", port);
  auto post = client.request(make_request(http::verb::post, "/metrics", "127.0.0.1", "x"));
  EXPECT_EQ(post.result_int(), 405);
  EXPECT_EQ(post[http::field::allow], "GET, HEAD");
  // The data-path listener knows nothing of the admin pages.
  EXPECT_NE(post_to(gw.port(), "127.0.0.1"), 200u);
}

TEST(Admin, MetricsAndStatusSayWhatTheExchangesDid) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(admin_config(upstream.port(), "{ listen: 127.0.0.1:0 }"));
  const auto port = admin_port(gw);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post_to(gw.port(), "open.test"), 200u);
  EXPECT_EQ(post_to(gw.port(), "open.test",
                    R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}})"),
            200u);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(post_to(gw.port(), "locked.test"), 403u);

  // Counted when each exchange ends, just after its response: wait for the last of them.
  std::string metrics;
  ASSERT_TRUE(wait_until([&] {
    metrics = admin_get(port, "/metrics").body();
    return sample(metrics, R"(mcpgate_requests_total{route="locked.test",code="4xx",reason="ip_denied"})") == 2 &&
           sample(metrics, R"(mcpgate_requests_total{route="open.test",code="2xx",reason=""})") == 4;
  })) << metrics;
  EXPECT_EQ(sample(metrics, R"(mcpgate_denials_total{route="locked.test",reason="ip_denied"})"), 2);
  EXPECT_EQ(sample(metrics, R"(mcpgate_request_duration_seconds_count{route="open.test"})"), 4);
  EXPECT_EQ(sample(metrics, R"(mcpgate_request_duration_seconds_bucket{route="open.test",le="+Inf"})"), 4);
  EXPECT_EQ(sample(metrics, R"(mcpgate_upstream_response_header_seconds_count{route="open.test"})"), 4);
  // Refused before any upstream was asked.
  EXPECT_EQ(sample(metrics, R"(mcpgate_upstream_response_header_seconds_count{route="locked.test"})"), -1);
  EXPECT_EQ(sample(metrics, R"(mcpgate_mcp_requests_total{route="open.test",method="tools/call",name="echo"})"), 1);
  EXPECT_EQ(sample(metrics, R"(mcpgate_rule_refusals_total{rule="routes.locked.test.allow",mode="enforced"})"), 2);
  EXPECT_GE(sample(metrics, "mcpgate_accepted_connections_total"), 6);
  EXPECT_GT(sample(metrics, R"(mcpgate_received_bytes_total{route="open.test"})"), 0);
  EXPECT_NE(metrics.find("# TYPE mcpgate_requests_total counter\n"), std::string::npos);
  EXPECT_NE(metrics.find(",sha256=\"" + gw.gateway().snapshot()->cfg->sha256 + "\"} 1\n"), std::string::npos);

  const auto status = admin_get(port, "/status.json");
  EXPECT_EQ(status[http::field::content_type], "application/json");
  EXPECT_EQ(status[http::field::cache_control], "no-store");
  const auto doc = json::parse(status.body()).as_object();
  EXPECT_EQ(doc.at("service"), "mcpgate");
  const auto& routes = doc.at("routes").as_array();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].at("name"), "open.test");
  EXPECT_EQ(routes[0].at("requests").to_number<std::uint64_t>(), 4u);
  EXPECT_EQ(routes[0].at("upstreams").at(0).at("healthy"), nullptr);  // no health_check: unknown
  EXPECT_EQ(routes[1].at("denied").to_number<std::uint64_t>(), 2u);
  const auto& denials = doc.at("denials").as_array();
  ASSERT_EQ(denials.size(), 2u);
  EXPECT_EQ(denials[0].at("reason"), "ip_denied");
  EXPECT_EQ(denials[0].at("client"), "127.0.0.1");
  EXPECT_EQ(denials[0].at("rule"), "routes.locked.test.allow");
  EXPECT_GE(denials[0].at("time").to_number<double>(), denials[1].at("time").to_number<double>());  // newest first
  EXPECT_EQ(doc.at("listeners").at(0).at("protocol"), "plain");
}

TEST(Admin, OpenSseStreamsAndConnectionsAreGauges) {
  // The upstream opens an event stream and keeps it open until the gateway goes away.
  fake_upstream upstream([](tcp::socket& socket) {
    if (answer_with_event_stream(socket) && write_raw(socket, chunk("data: hello\n\n"))) wait_for_close(socket);
  });
  gateway_harness gw(admin_config(upstream.port(), "{ listen: 127.0.0.1:0 }"));
  const auto port = admin_port(gw);
  std::string metrics;
  {
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    client.send(make_request(http::verb::get, "/mcp", "open.test"));
    client.read_header();
    ASSERT_TRUE(client.read_sse_event());
    ASSERT_TRUE(wait_until([&] {
      metrics = admin_get(port, "/metrics").body();
      return sample(metrics, "mcpgate_open_sse_streams") == 1;
    })) << metrics;
    // The client's connection; the scrape's own goes to the admin listener, which is not counted.
    EXPECT_EQ(sample(metrics, "mcpgate_open_connections"), 1);
  }
  // The client left: the stream ends, the gauges go back to zero.
  ASSERT_TRUE(wait_until([&] {
    metrics = admin_get(port, "/metrics").body();
    return sample(metrics, "mcpgate_open_sse_streams") == 0 && sample(metrics, "mcpgate_open_connections") == 0;
  })) << metrics;
}

TEST(Admin, KeyGuardsThePagesButNotTheProbes) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  const auto digest = auth::to_hex(auth::sha256_of("admin-secret"));
  gateway_harness gw(admin_config(upstream.port(), "{ listen: 127.0.0.1:0, key_sha256: " + digest + " }"));
  const auto port = admin_port(gw);
  const auto refused = admin_get(port, "/metrics");
  EXPECT_EQ(refused.result_int(), 401);
  EXPECT_NE(refused[http::field::www_authenticate].find("Basic"), std::string::npos);
  EXPECT_EQ(admin_get(port, "/status.json", "Bearer wrong").result_int(), 401);
  EXPECT_EQ(admin_get(port, "/metrics", "Bearer admin-secret").result_int(), 200);
  // A browser answering the Basic prompt: any user name, the key as the password.
  EXPECT_EQ(admin_get(port, "/status.json", "Basic " + core::base64_encode("ops:admin-secret")).result_int(), 200);
  EXPECT_EQ(admin_get(port, "/healthz").result_int(), 200);
  EXPECT_EQ(admin_get(port, "/readyz").result_int(), 200);
}

TEST(Admin, AllowListClosesOtherPeersWithoutAByte) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(admin_config(upstream.port(), "{ listen: 127.0.0.1:0, allow: [10.0.0.0/8] }"));
  http_test_client client(3s);
  EXPECT_TRUE(client.connect_and_wait_closed("127.0.0.1", admin_port(gw)));
}

TEST(Admin, ReloadHistoryKeepsTheErrorOfAFailedReload) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  const auto first = admin_config(upstream.port(), "{ listen: 127.0.0.1:0 }");
  gateway_harness gw(first);
  const auto port = admin_port(gw);
  const auto first_hash = gw.gateway().snapshot()->cfg->sha256;
  std::string error;
  // The admin address is bound once: changing it needs a restart, and says so.
  EXPECT_FALSE(gw.reload(admin_config(upstream.port(), "{ listen: 127.0.0.1:1 }"), error));
  EXPECT_NE(error.find("admin.listen"), std::string::npos);
  gw.gateway().note_failed_reload("config.yaml:3: routes: expected a map");
  ASSERT_TRUE(gw.reload(first + "\n# changed\n", error)) << error;

  const auto doc = json::parse(admin_get(port, "/status.json").body()).as_object();
  const auto& config = doc.at("config").as_object();
  EXPECT_NE(config.at("sha256").as_string(), first_hash);
  const auto& reloads = config.at("reloads").as_array();
  ASSERT_EQ(reloads.size(), 3u);
  EXPECT_EQ(reloads[0].at("ok"), true);  // newest first
  EXPECT_EQ(reloads[1].at("error"), "config.yaml:3: routes: expected a map");
  EXPECT_NE(reloads[2].at("error").as_string().find("admin.listen"), json::string::npos);
  const auto metrics = admin_get(port, "/metrics").body();
  EXPECT_EQ(sample(metrics, R"(mcpgate_config_reloads_total{result="ok"})"), 1);
  EXPECT_EQ(sample(metrics, R"(mcpgate_config_reloads_total{result="failed"})"), 2);
}

TEST(Admin, MetricsOffCountsNothingButStillReportsTheConfig) {
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(admin_config(upstream.port(), "{ listen: 127.0.0.1:0, metrics: false }"));
  EXPECT_EQ(post_to(gw.port(), "open.test"), 200u);
  const auto metrics = admin_get(admin_port(gw), "/metrics").body();
  EXPECT_EQ(metrics.find("mcpgate_requests_total"), std::string::npos);
  EXPECT_NE(metrics.find("mcpgate_config_info"), std::string::npos);
}

TEST(Admin, CertificatesInUseAndTheirExpiry) {
  test_pki pki({"open.test"});
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(tls_admin_config(pki, upstream.port()));
  const auto port = admin_port(gw);
  const auto doc = json::parse(admin_get(port, "/status.json").body()).as_object();
  const auto& certificates = doc.at("certificates").as_array();
  ASSERT_EQ(certificates.size(), 1u);
  EXPECT_EQ(std::string(certificates[0].at("file").as_string()), pki.server_cert);
  const auto left = certificates[0].at("seconds_left").to_number<double>();
  EXPECT_GT(left, 86400.0);  // the test PKI's certificates last longer than a day
  const auto metrics = admin_get(port, "/metrics").body();
  const auto line = metrics.find("mcpgate_certificate_expiry_seconds{source=\"listener 127.0.0.1:0\"");
  ASSERT_NE(line, std::string::npos) << metrics;
}

TEST(Admin, MetricsPassPrometheusOwnParser) {
  test_pki pki({"open.test"});
  fake_upstream upstream(echo_handler(std::make_shared<recorded_requests>()));
  gateway_harness gw(tls_admin_config(pki, upstream.port()));
  const auto port = admin_port(gw);
  for (const auto* host : {"open.test", "locked.test"}) {
    http_test_client client;
    client.connect_tls("127.0.0.1", gw.port(), "open.test", pki.ca_cert);
    client.request(mcp_post(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a \"quoted\" name"}})",
                            host));
  }
  std::string metrics;
  ASSERT_TRUE(wait_until([&] {
    metrics = admin_get(port, "/metrics").body();
    return metrics.find("ip_denied") != std::string::npos && metrics.find("quoted") != std::string::npos;
  })) << metrics;
  EXPECT_EQ(promtool_check("metrics", metrics), "") << metrics;
}

// The README's scrape config and alert rules, as a user would paste them.
std::string readme_block(const std::string& readme, const std::string& after) {
  const auto at = readme.find(after);
  if (at == std::string::npos) return {};
  const auto open = readme.find("```yaml\n", at);
  const auto close = readme.find("```\n", open + 8);
  if (open == std::string::npos || close == std::string::npos) return {};
  return readme.substr(open + 8, close - open - 8);
}

TEST(Admin, ReadmeScrapeConfigAndAlertRulesPassPromtool) {
  const char* source = std::getenv("MCPGATE_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "run with MCPGATE_SOURCE_DIR set to the source tree";
  std::ifstream in(std::string(source) + "/README.md");
  std::stringstream text;
  text << in.rdbuf();
  const auto scrape = readme_block(text.str(), "Prometheus scrape config:");
  const auto rules = readme_block(text.str(), "Alert rules");
  ASSERT_NE(scrape.find("scrape_configs:"), std::string::npos);
  ASSERT_NE(rules.find("McpgateCertificateExpiringSoon"), std::string::npos);
  EXPECT_EQ(promtool_check("config", scrape), "");
  EXPECT_EQ(promtool_check("rules", rules), "");
}

}  // namespace
}  // namespace mcpgate::test
