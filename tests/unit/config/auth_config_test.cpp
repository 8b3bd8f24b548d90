// Route `auth:`, `upstream_auth:`, top-level `api_keys:` and listener client certificates
// as the loader reads them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/loader.hpp"
#include "config_test_util.hpp"

namespace mcpgate::config {
namespace {

using testing::has;
using testing::has_part;
using testing::loads;

constexpr std::string_view key_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

// `text` with every "@" replaced by `value` (g++ 12 warns falsely on long string sums).
std::string with(std::string text, std::string_view value) {
  for (auto at = text.find('@'); at != std::string::npos; at = text.find('@', at + value.size())) {
    text.replace(at, 1, value);
  }
  return text;
}

TEST(AuthConfig, OauthApiKeysAndConditionsAreRead) {
  const auto r = load_string(with(R"(listeners: [{ address: ":8080" }]
api_keys:
  - { name: ci-bot, sha256: @, routes: [files], tools: ["read_*"] }
routes:
  files:
    upstream: "http://10.0.0.5:1"
    auth:
      oauth:
        issuer: https://auth.example.com
        audience: https://files.example.com/mcp
        scopes: [mcp:tools]
        leeway: 30s
        allowed_ips: [127.0.0.1/32]
      api_keys: true
    tools:
      allow: [read_file, { name: write_file, scope: files:write }, { name: deploy, key: "ci-*" }]
    rate_limit: { requests: 5, per: 1m, key: caller }
)",
                                  key_hash),
                             "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& route = r.snapshot->routes[0];
  ASSERT_TRUE(route.auth.oauth);
  EXPECT_EQ(route.auth.oauth->issuer, "https://auth.example.com");
  EXPECT_EQ(route.auth.oauth->audience, "https://files.example.com/mcp");
  EXPECT_EQ(route.auth.oauth->scopes, std::vector<std::string>{"mcp:tools"});
  EXPECT_EQ(route.auth.oauth->leeway, std::chrono::seconds(30));
  EXPECT_EQ(route.auth.oauth->allowed_ips.size(), 1u);
  EXPECT_TRUE(route.auth.api_keys);
  EXPECT_FALSE(route.auth.pass_authorization);
  ASSERT_EQ(route.policy.tools.allow.size(), 3u);
  EXPECT_EQ(route.policy.tools.allow[1].caller.scopes, std::vector<std::string>{"files:write"});
  EXPECT_EQ(route.policy.tools.allow[2].caller.keys, std::vector<std::string>{"ci-*"});
  EXPECT_EQ(route.rate_limits[0].key, std::vector<rate_limit::key_part>{rate_limit::key_part::caller});
  ASSERT_EQ(r.snapshot->api_keys.size(), 1u);
  const auto& key = r.snapshot->api_keys[0];
  EXPECT_EQ(key.name, "ci-bot");
  EXPECT_EQ(key.sha256[0], 0x9f);
  EXPECT_EQ(key.sha256[31], 0x08);
  EXPECT_EQ(key.routes, std::vector<std::string>{"files"});
  ASSERT_EQ(key.tools.allow.size(), 1u);
  EXPECT_EQ(key.tools.allow[0].glob, "read_*");
  EXPECT_EQ(key.tools.where, "api_keys[0].tools");
  const auto text = summarize(*r.snapshot);
  EXPECT_NE(text.find("auth oauth(issuer https://auth.example.com, audience https://files.example.com/mcp, scopes "
                      "mcp:tools) api_keys, Authorization not passed upstream"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("api_keys: ci-bot"), std::string::npos) << text;
  EXPECT_EQ(text.find(key_hash), std::string::npos) << "a key's hash has no place in the summary";
}

TEST(AuthConfig, UpstreamCredentialComesFromAFileOrTheEnvironmentAndIsNeverShown) {
  const auto dir = std::filesystem::temp_directory_path() / ("mcpgate-auth-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "token";
  std::ofstream(file) << "s3cret-file\n";
  ::setenv("MCPGATE_TEST_UPSTREAM_TOKEN", "s3cret-env", 1);
  const auto r = load_string(with(R"(listeners: [{ address: ":8080" }]
routes:
  a: { upstream: "http://10.0.0.5:1", upstream_auth: { value_file: "@", prefix: "Bearer " } }
  b: { upstream: "http://10.0.0.5:1", upstream_auth: { header: X-Api-Key, value_env: MCPGATE_TEST_UPSTREAM_TOKEN } }
)",
                                  file.string()),
                             "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  ASSERT_TRUE(r.snapshot->routes[0].upstream_auth);
  EXPECT_EQ(r.snapshot->routes[0].upstream_auth->header, "authorization");
  EXPECT_EQ(r.snapshot->routes[0].upstream_auth->value, "Bearer s3cret-file");
  EXPECT_EQ(r.snapshot->routes[1].upstream_auth->header, "x-api-key");
  EXPECT_EQ(r.snapshot->routes[1].upstream_auth->value, "s3cret-env");
  const auto text = summarize(*r.snapshot);
  EXPECT_NE(text.find("upstream_auth x-api-key from env MCPGATE_TEST_UPSTREAM_TOKEN"), std::string::npos) << text;
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  std::filesystem::remove_all(dir);
  ::unsetenv("MCPGATE_TEST_UPSTREAM_TOKEN");
}

TEST(AuthConfig, MistakesAreErrorsWithTheirPlace) {
  const auto r = load_string(with(R"(listeners: [{ address: ":8080" }]
api_keys:
  - { name: a, sha256: abc }
  - { name: b, sha256: @, routes: [nope] }
routes:
  r1: { upstream: "http://10.0.0.5:1", auth: { oauth: { issuer: "http://auth.example.com", audience: "https://x/mcp" } } }
  r2: { upstream: "http://10.0.0.5:1", auth: { oauth: { audience: "https://x/mcp", scopes: ["a b"] } } }
  r3: { upstream: "http://10.0.0.5:1", auth: {} }
  r4: { upstream: "http://10.0.0.5:1", auth: { client_cert: true } }
  r5: { upstream: "http://10.0.0.5:1", tools: { allow: [{ name: x, key: bot }] }, auth: { oauth: { issuer: "https://a", audience: "https://x" } } }
  r6: { upstream: "http://10.0.0.5:1", rate_limit: { requests: 1, key: caller } }
  r7: { upstream: "http://10.0.0.5:1", upstream_auth: { value_env: MCPGATE_TEST_SURELY_UNSET } }
  r8: { upstream: "http://10.0.0.5:1", auth: { oauth: { issuer: "https://a", audience: "https://x", leeway: 1h } } }
)",
                                  key_hash),
                             "t.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_part(r, "api_keys[0].sha256: expected the key's SHA-256 as 64 hex digits")) << testing::rendered(r);
  EXPECT_TRUE(has_part(r, "api_keys[1].routes: unknown route \"nope\""));
  EXPECT_TRUE(has_part(r, "routes.r1.auth.oauth.issuer: invalid URL \"http://auth.example.com\": the scheme must be https"));
  EXPECT_TRUE(has_part(r, "routes.r2.auth.oauth.issuer: missing required key \"issuer\""));
  EXPECT_TRUE(has_part(r, "routes.r2.auth.oauth.scopes[0]: invalid scope \"a b\""));
  EXPECT_TRUE(has_part(r, "routes.r3.auth: auth names no method"));
  EXPECT_TRUE(has_part(r, "route \"r4\" needs a client certificate but no listener verifies them"));
  EXPECT_TRUE(has_part(r, "routes.r5.tools.allow[0]: a condition on the caller that can never hold: the route has no auth.api_keys"));
  EXPECT_TRUE(has_part(r, "routes.r6.rate_limit.key: key caller needs auth: on the route"));
  EXPECT_TRUE(has_part(r, "routes.r7.upstream_auth.value_env: environment variable \"MCPGATE_TEST_SURELY_UNSET\" is not set"));
  EXPECT_TRUE(has_part(r, "routes.r8.auth.oauth.leeway: at most 10m"));
}

TEST(AuthConfig, IntrospectionWithItsSecretFromAFileOrTheEnvironment) {
  const auto dir = std::filesystem::temp_directory_path() / ("mcpgate-introspection-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "secret";
  std::ofstream(file) << "s3cret-file\n";
  ::setenv("MCPGATE_TEST_INTROSPECTION_SECRET", "s3cret-env", 1);
  const auto r = load_string(with(R"(listeners: [{ address: ":8080" }]
routes:
  a:
    upstream: "http://10.0.0.5:1"
    auth:
      oauth:
        issuer: https://auth.example.com
        audience: https://a.example.com/mcp
        introspection: { endpoint: https://auth.example.com/introspect, client_id: gw, client_secret_file: "@", cache: 2m, timeout: 2s }
  b:
    upstream: "http://10.0.0.5:1"
    auth:
      oauth:
        issuer: https://auth.example.com
        audience: https://b.example.com/mcp
        jwks_uri: https://auth.example.com/jwks
        introspection: { endpoint: https://auth.example.com/introspect, client_id: gw, client_secret_env: MCPGATE_TEST_INTROSPECTION_SECRET, cache: 0s }
)",
                                  file.string()),
                             "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& a = r.snapshot->routes[0].auth.oauth;
  ASSERT_TRUE(a && a->introspection);
  EXPECT_EQ(a->introspection->endpoint, "https://auth.example.com/introspect");
  EXPECT_EQ(a->introspection->client_id, "gw");
  EXPECT_EQ(a->introspection->client_secret, "s3cret-file");
  EXPECT_EQ(a->introspection->cache, std::chrono::minutes(2));
  EXPECT_EQ(a->introspection->timeout, std::chrono::seconds(2));
  EXPECT_TRUE(a->introspects_every_token());
  const auto& b = r.snapshot->routes[1].auth.oauth;
  ASSERT_TRUE(b && b->introspection);
  EXPECT_EQ(b->introspection->client_secret, "s3cret-env");
  EXPECT_EQ(b->introspection->cache, std::chrono::seconds(0));
  EXPECT_EQ(b->introspection->timeout, std::chrono::seconds(5)) << "the default";
  EXPECT_FALSE(b->introspects_every_token()) << "JWTs are verified with the keys";
  const auto text = summarize(*r.snapshot);
  EXPECT_NE(text.find("introspection https://auth.example.com/introspect as gw (secret from env "
                      "MCPGATE_TEST_INTROSPECTION_SECRET)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  std::filesystem::remove_all(dir);
  ::unsetenv("MCPGATE_TEST_INTROSPECTION_SECRET");
}

TEST(AuthConfig, IntrospectionMistakesAreErrorsWithTheirPlace) {
  ::setenv("MCPGATE_TEST_INTROSPECTION_SECRET", "s3cret-env", 1);
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  r1: { upstream: "http://10.0.0.5:1", auth: { oauth: { issuer: "https://a", audience: "https://x",
        introspection: { endpoint: "http://a/introspect", client_id: gw, client_secret_env: MCPGATE_TEST_INTROSPECTION_SECRET } } } }
  r2: { upstream: "http://10.0.0.5:1", auth: { oauth: { issuer: "https://a", audience: "https://x",
        introspection: { endpoint: "https://a/i", client_id: gw, client_secret_env: MCPGATE_TEST_INTROSPECTION_SECRET, client_secret_file: /x } } } }
  r3: { upstream: "http://10.0.0.5:1", auth: { oauth: { issuer: "https://a", audience: "https://x",
        introspection: { endpoint: "https://a/i", client_id: gw, client_secret_env: MCPGATE_TEST_INTROSPECTION_SECRET, cache: 6m, timeout: 0s } } } }
  r4: { upstream: "http://10.0.0.5:1", auth: { oauth: { issuer: "https://a", audience: "https://x",
        introspection: { client_id: "", secret: x } } } }
  r5: { upstream: "http://10.0.0.5:1", auth: { oauth: { issuer: "https://a", audience: "https://x",
        introspection: { endpoint: "https://a/i", client_id: gw, client_secret_env: MCPGATE_TEST_SURELY_UNSET, timeout: 1m } } } }
  r6: { upstream: "http://10.0.0.5:1", auth: { oauth: { issuer: "https://a", audience: "https://x",
        introspection: { endpoint: "https://a/i", client_id: gw, client_secret_file: /nonexistent/mcpgate-secret } } } }
)",
                             "t.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_part(r, "t.yaml:4:")) << "diagnostics carry file:line\n" << testing::rendered(r);
  EXPECT_TRUE(has_part(r, "routes.r1.auth.oauth.introspection.endpoint: invalid URL \"http://a/introspect\": the scheme must be https"));
  EXPECT_TRUE(has_part(r, "routes.r2.auth.oauth.introspection.client_secret_file: give client_secret_file or client_secret_env, not both"));
  EXPECT_TRUE(has_part(r, "routes.r3.auth.oauth.introspection.cache: at most 5m"));
  EXPECT_TRUE(has_part(r, "routes.r3.auth.oauth.introspection.timeout:"));
  EXPECT_TRUE(has_part(r, "routes.r4.auth.oauth.introspection.secret: unknown key"));
  EXPECT_TRUE(has_part(r, "routes.r4.auth.oauth.introspection.client_id: the client_id must be a non-empty line"));
  EXPECT_TRUE(has_part(r, "routes.r4.auth.oauth.introspection.endpoint: missing required key \"endpoint\""));
  EXPECT_TRUE(has_part(r, "routes.r4.auth.oauth.introspection: missing client_secret_file or client_secret_env"));
  EXPECT_TRUE(has_part(r, "routes.r5.auth.oauth.introspection.client_secret_env: environment variable \"MCPGATE_TEST_SURELY_UNSET\" is not set"));
  EXPECT_TRUE(has_part(r, "routes.r5.auth.oauth.introspection.timeout: at most 30s"));
  EXPECT_TRUE(has_part(r, "routes.r6.auth.oauth.introspection.client_secret_file:"));
  EXPECT_EQ(testing::rendered(r).find("s3cret"), std::string::npos);
  ::unsetenv("MCPGATE_TEST_INTROSPECTION_SECRET");
}

TEST(AuthConfig, ListenerClientCertificates) {
  const auto r = load_string(R"(tls: { cert_file: /c.pem, key_file: /k.pem }
listeners:
  - { address: ":8443", mode: tls, tls: { client_ca_file: /ca.pem, client_auth: required } }
  - { address: ":8444", mode: tls }
routes:
  a: { upstream: "http://10.0.0.5:1", auth: { client_cert: { names: ["*.clients.example.com"] } } }
)",
                             "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& l0 = r.snapshot->listeners[0];
  EXPECT_EQ(l0.tls.cert_file, "/c.pem") << "the shared certificate, the listener's own client settings";
  EXPECT_EQ(l0.tls.client_ca_file, "/ca.pem");
  EXPECT_TRUE(l0.tls.client_cert_required);
  EXPECT_TRUE(r.snapshot->listeners[1].tls.client_ca_file.empty());
  ASSERT_TRUE(r.snapshot->routes[0].auth.client_cert);
  EXPECT_EQ(r.snapshot->routes[0].auth.client_cert->names, std::vector<std::string>{"*.clients.example.com"});

  const auto bad = load_string(R"(listeners:
  - { address: ":8080", tls: { client_ca_file: /ca.pem } }
  - { address: ":8443", mode: tls, tls: { cert_file: /c.pem, key_file: /k.pem, client_auth: maybe } }
routes: {}
)",
                               "t.yaml");
  EXPECT_TRUE(has_part(bad, "is plain: there is no TLS handshake to verify client certificates in")) << testing::rendered(bad);
  EXPECT_TRUE(has_part(bad, "listeners[1].tls.client_auth: expected optional or required, got \"maybe\""));
  EXPECT_TRUE(has_part(bad, "client_auth needs listeners[1].tls.client_ca_file"));
}

}  // namespace
}  // namespace mcpgate::config
