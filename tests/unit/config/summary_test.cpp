#include <gtest/gtest.h>

#include <string>

#include "app/commands.hpp"
#include "config/loader.hpp"
#include "config_test_util.hpp"

namespace mcpgate::config {
namespace {

using testing::loads;
using testing::source_path;

// Golden: the summary is what `validate` prints and what people diff between two configs,
// so its exact text is the contract.
TEST(ConfigSummary, GoldenEverythingSet) {
  const auto r = load_string(R"(listen_addr: "[::]:8080"
log_level: warn
shutdown_timeout: 1m30s
tunnel_domain: .Abcd.Tunnel.Example.com
tls: { cert_file: /data/tls.crt, key_file: /data/tls.key, poll_interval: 1m }
trusted_proxies: [127.0.0.1, "10.1.0.0/16"]
listeners:
  - { address: "127.0.0.1:9000" }
  - { address: "0.0.0.0:8443", mode: tls, tls: { cert_file: /own.crt, key_file: /own.key } }
routes:
  echo: http://hello-mcp:9000
  API.Example.com:
    path: /mcp/
    upstream: "https://api.internal:8443"
    connect_timeout: 2s
    response_header_timeout: 1h
    stream_idle_timeout: 1500ms
    preserve_host: true
  "*":
    - { path: /sse, upstream: "http://[fd00::1]:3102", strip_path: true }
    - { upstream: "http://10.0.0.9:80" }
upstream:
  allowed_ips: [10.0.0.0/8, "fd00::/8"]
  tls: { ca_file: /data/upstream-ca.pem, include_system_cas: true }
limits:
  max_request_header_bytes: 32KiB
  max_request_body_bytes: 1000
  max_response_header_bytes: 1MiB
  request_header_timeout: 5s
  request_body_timeout: 30s
  keepalive_timeout: 2m
workers: 4
)",
                             "golden.yaml");
  ASSERT_TRUE(loads(r));
  EXPECT_TRUE(r.diagnostics.empty()) << testing::rendered(r);
  EXPECT_EQ(summarize(*r.snapshot),
            "config: golden.yaml\n"
            "listeners:\n"
            "  [::]:8080 ws (listen_addr) cert /data/tls.crt key /data/tls.key (polled every 1m)\n"
            "  127.0.0.1:9000 plain\n"
            "  0.0.0.0:8443 tls cert /own.crt key /own.key (polled every 5s)\n"
            "tunnel_domain: abcd.tunnel.example.com\n"
            "routes:\n"
            "  echo / -> http://hello-mcp:9000 (connect 10s, response header 5m, stream idle off)\n"
            "  api.example.com /mcp -> https://api.internal:8443 (connect 2s, response header 1h, stream idle 1.5s, "
            "preserve host)\n"
            "  * /sse -> http://[fd00::1]:3102 (connect 10s, response header 5m, stream idle off, strip path)\n"
            "  * / -> http://10.0.0.9:80 (connect 10s, response header 5m, stream idle off)\n"
            "upstream: allowed_ips 10.0.0.0/8, fd00::/8 (set) | validation on | tls: ca_file /data/upstream-ca.pem, "
            "system CAs yes\n"
            "trusted_proxies: 127.0.0.1/32, 10.1.0.0/16 (set)\n"
            "limits: request header 32KiB, request body 1000B, response header 1MiB, header timeout 5s, body timeout "
            "30s, keepalive 2m\n"
            "log_level: warn, shutdown_timeout: 1m30s, workers: 4\n");
}

TEST(ConfigSummary, GoldenDefaults) {
  const auto r = load_string("listeners: [{ address: \":8080\" }]\nupstream: { disable_ip_validation: true }\n");
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(summarize(*r.snapshot),
            "config: (string)\n"
            "listeners:\n"
            "  :8080 plain\n"
            "tunnel_domain: (none)\n"
            "routes: (none)\n"
            "upstream: allowed_ips 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (default) | validation off | tls: "
            "ca_file none, system CAs no\n"
            "trusted_proxies: 127.0.0.0/8, ::1/128 (default: ws listeners only)\n"
            "limits: request header 16KiB, request body 16MiB, response header 64KiB, header timeout 10s, body "
            "timeout 1m, keepalive 1m\n"
            "log_level: info, shutdown_timeout: 30s, workers: auto\n");
}

TEST(ConfigSummary, LogsLineOnlyWhenALogKeyIsSet) {
  const auto r = load_string("listeners: [{ address: \":8080\" }]\nlog_file: /var/log/mcpgate.log\n");
  ASSERT_TRUE(loads(r));
  const auto summary = summarize(*r.snapshot);
  EXPECT_NE(summary.find("\nlogs: process text to /var/log/mcpgate.log, access json to stdout\n"), std::string::npos)
      << summary;
  const auto json = load_string("listeners: [{ address: \":8080\" }]\nlog_format: json\naccess_log_file: \"-\"\n");
  ASSERT_TRUE(loads(json));
  EXPECT_NE(summarize(*json.snapshot).find("\nlogs: process json to stderr, access json to stdout\n"), std::string::npos);
}

TEST(ConfigSummary, IsStableAcrossReloads) {
  const auto path = source_path("examples/paths.yaml");
  const auto a = load_file(path);
  const auto b = load_file(path);
  ASSERT_TRUE(loads(a));
  ASSERT_TRUE(loads(b));
  EXPECT_EQ(summarize(*a.snapshot), summarize(*b.snapshot));
}

TEST(ConfigValidate, PrintsSummaryAndExitsZero) {
  app::validate_options options;
  options.config_path = source_path("examples/local.yaml");
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int rc = app::run_validate(options);
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(err, "");
  EXPECT_EQ(out, summarize(*load_file(options.config_path).snapshot));
}

TEST(ConfigValidate, QuietPrintsNothingOnSuccess) {
  app::validate_options options;
  options.config_path = source_path("examples/local.yaml");
  options.quiet = true;
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(app::run_validate(options), 0);
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
}

TEST(ConfigValidate, PrintsEveryErrorAndCountExitsOne) {
  app::validate_options options;
  options.config_path = source_path("tests/unit/config/bad/routes_list.yaml");
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int rc = app::run_validate(options);
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, options.config_path +
                     ":4:3: error: routes: routes must be a map of name: scheme://host:port, got a list\n1 error\n");

  options.config_path = source_path("tests/unit/config/bad/many_errors.yaml");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(app::run_validate(options), 1);
  const std::string many = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(many.find("\n15 errors\n"), std::string::npos) << many;
  EXPECT_NE(many.find(": warning: upstream.allowed_ips[2]: 0.0.0.0/0"), std::string::npos) << many;
}

TEST(ConfigValidate, WarningsGoToStderrOnSuccess) {
  app::validate_options options;
  options.config_path = source_path("tests/unit/config/bad/warnings_only.yaml");
  options.tunnel_domain = "T.Example.com";
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int rc = app::run_validate(options);
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(err, options.config_path + ":4:16: warning: upstream.allowed_ips: upstream.allowed_ips is empty: every "
                                       "upstream will be refused\n");
  EXPECT_NE(out.find("tunnel_domain: t.example.com\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace mcpgate::config
