// Route auth through the whole gateway: a local HTTPS issuer (discovery + JWKS) whose keys
// the gateway fetches under the SSRF rules, real signed tokens, API keys, client
// certificates, and what reaches the upstream (never the client's credential).
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>

#include "auth/api_key.hpp"
#include "core/base64.hpp"
#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/http_test_client.hpp"
#include "support/jwt_signer.hpp"
#include "support/test_pki.hpp"
#include "support/wait.hpp"

namespace mcpgate::test {
namespace {

namespace ssl = boost::asio::ssl;
using namespace std::chrono_literals;

constexpr const char* audience = "https://mcp.test/mcp";

// An OAuth authorization server as far as a resource server sees one: its OpenID
// discovery document and JWKS over HTTPS on 127.0.0.1 (certificate from a test CA).
struct fake_issuer {
  test_pki pki{{"localhost"}, {"127.0.0.1"}};
  std::mutex mutex;
  std::string jwks;
  std::map<std::string, int> hits;
  bool down = false;
  std::optional<std::shared_future<void>> jwks_gate;  // /jwks answers only once this is ready
  fake_upstream server{https_handler(server_tls_context(pki.server_cert, pki.server_key),
                                     [this](const bhttp::request<bhttp::string_body>& req) { return answer(req); })};

  std::string url() const { return fmt::format("https://127.0.0.1:{}", server.port()); }
  void set_keys(const std::vector<const signing_key*>& keys) {
    std::lock_guard lock(mutex);
    jwks = jwks_json(keys);
  }
  int hits_of(const std::string& path) {
    std::lock_guard lock(mutex);
    return hits[path];
  }
  bhttp::response<bhttp::string_body> answer(const bhttp::request<bhttp::string_body>& req) {
    bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
    std::unique_lock lock(mutex);
    const std::string path(req.target());
    ++hits[path];
    if (path == "/jwks" && jwks_gate) {
      auto gate = *jwks_gate;
      lock.unlock();
      gate.wait_for(std::chrono::seconds(20));
      lock.lock();
    }
    if (down) {
      res.result(bhttp::status::service_unavailable);
    } else if (path == "/.well-known/openid-configuration") {
      res.body() = boost::json::serialize(boost::json::object{{"issuer", url()}, {"jwks_uri", url() + "/jwks"}});
    } else if (path == "/jwks") {
      res.body() = jwks;
    } else {
      res.result(bhttp::status::not_found);
    }
    res.set(bhttp::field::content_type, "application/json");
    return res;
  }
};

boost::json::object claims(const std::string& issuer, boost::json::object extra = {}) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  boost::json::object c{{"iss", issuer}, {"sub", "alice"}, {"aud", audience}, {"exp", now + 300},
                        {"iat", now - 5},  {"scope", "mcp:tools"}, {"client_id", "claude"}};
  for (const auto& [k, v] : extra) c[k] = v;
  return c;
}

std::string tools_call(const std::string& tool) {
  return fmt::format(R"({{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{}","arguments":{{}}}}}})", tool);
}

struct protected_gateway {
  fake_issuer issuer;
  signing_key key = signing_key::ec_p256("k1");
  std::string bot_key = auth::make_api_key();
  std::string other_key = auth::make_api_key();
  std::shared_ptr<recorded_requests> seen = std::make_shared<recorded_requests>();
  fake_upstream upstream{echo_handler(seen)};
  std::unique_ptr<gateway_harness> gw;

  explicit protected_gateway(const std::string& route_extra = {}) {
    issuer.set_keys({&key});
    gw = std::make_unique<gateway_harness>(fmt::format(R"(
listeners: [{{ address: "127.0.0.1:0" }}]
api_keys:
  - {{ name: ci-bot, sha256: {}, tools: ["read_*"] }}
  - {{ name: other, sha256: {} }}
routes:
  "*":
    - path: /mcp
      upstream: "http://127.0.0.1:{}"
      auth:
        oauth: {{ issuer: "{}", audience: "{}", scopes: [mcp:tools], ca_file: "{}", allowed_ips: [127.0.0.1/32] }}
        api_keys: true
      {}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                                       auth::to_hex(auth::sha256_of(bot_key)),
                                                       auth::to_hex(auth::sha256_of(other_key)), upstream.port(),
                                                       issuer.url(), audience, issuer.pki.ca_cert, route_extra));
  }
  http::response<http::string_body> post(const std::string& body, const std::string& bearer,
                                         const std::string& target = "/mcp") {
    http_test_client client;
    client.connect("127.0.0.1", gw->port());
    auto req = mcp_post(body, "mcp.test");
    req.target(target);
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    return client.request(req);
  }
  // Until the first key fetch the gateway answers 503; wait for it to have keys.
  void wait_for_keys() {
    ASSERT_TRUE(wait_until([&] { return post(tools_call("read_file"), key.sign(claims(issuer.url()))).result_int() != 503; }))
        << "the gateway never fetched the issuer's keys";
  }
};

TEST(Auth, ValidTokenPassesAndTheUpstreamNeverSeesIt) {
  protected_gateway g;
  g.wait_for_keys();
  EXPECT_EQ(g.issuer.hits_of("/.well-known/openid-configuration"), 1) << "discovery, then the JWKS";
  const auto before = g.seen->size();
  auto res = g.post(tools_call("read_file"), g.key.sign(claims(g.issuer.url())));
  ASSERT_EQ(res.result_int(), 200) << res.body();
  ASSERT_EQ(g.seen->size(), before + 1);
  const auto forwarded = g.seen->at(before);
  EXPECT_EQ(forwarded.count(http::field::authorization), 0u) << "no token passthrough";
}

TEST(Auth, RefusalsCarryTheChallengesClientsFollow) {
  protected_gateway g;
  g.wait_for_keys();
  const auto before = g.seen->size();
  const std::string metadata = "https://mcp.test/.well-known/oauth-protected-resource/mcp";

  auto res = g.post(tools_call("read_file"), "");
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_EQ(res[http::field::www_authenticate],
            "Bearer resource_metadata=\"" + metadata + "\", scope=\"mcp:tools\"");
  const auto body = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(body.at("error").at("data").at("reason").as_string(), "auth_missing");

  struct bad_token {
    std::string name, token;
    unsigned status;
    std::string in_challenge;
  };
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto url = g.issuer.url();
  const auto good = g.key.sign(claims(url));
  std::vector<bad_token> corpus{
      {"expired", g.key.sign(claims(url, {{"exp", now - 3600}})), 401, "error_description=\"expired\""},
      {"not yet valid", g.key.sign(claims(url, {{"nbf", now + 3600}})), 401, "error_description=\"not_yet_valid\""},
      {"wrong aud", g.key.sign(claims(url, {{"aud", "https://other.test/mcp"}})), 401, "wrong_audience"},
      {"wrong iss", g.key.sign(claims("https://evil.test")), 401, "wrong_issuer"},
      {"alg none", assemble_token({{"alg", "none"}, {"kid", "k1"}}, claims(url), ""), 401, "alg_not_allowed"},
      {"HS256 with the public key", hs256_token(claims(url), g.key.public_pem(), "k1"), 401, "alg_not_allowed"},
      {"unknown kid", signing_key::ec_p256("nobody").sign(claims(url)), 401, "unknown_kid"},
      {"tampered payload",
       good.substr(0, good.find('.') + 1) +
           core::base64url_encode(boost::json::serialize(claims(url, {{"scope", "mcp:tools admin"}}))) +
           good.substr(good.rfind('.')),
       401, "bad_signature"},
      {"oversized", std::string(17 * 1024, 'a'), 431, ""},
      {"insufficient scope", g.key.sign(claims(url, {{"scope", "other"}})), 403, "error=\"insufficient_scope\", scope=\"mcp:tools\""},
  };
  for (const auto& bad : corpus) {
    res = g.post(tools_call("read_file"), bad.token);
    EXPECT_EQ(res.result_int(), bad.status) << bad.name << ": " << res.body();
    if (!bad.in_challenge.empty()) {
      EXPECT_NE(std::string(res[http::field::www_authenticate]).find(bad.in_challenge), std::string::npos)
          << bad.name << ": " << res[http::field::www_authenticate];
    }
  }
  // The token in the query string: 400, whatever the header says, and never forwarded.
  res = g.post(tools_call("read_file"), good, "/mcp?access_token=" + good);
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_NE(std::string(res[http::field::www_authenticate]).find("invalid_request"), std::string::npos);
  EXPECT_EQ(g.seen->size(), before) << "no refused request reached the upstream";

  // The metadata the challenge points at.
  http_test_client client;
  client.connect("127.0.0.1", g.gw->port());
  auto prm = client.request(make_request(http::verb::get, "/.well-known/oauth-protected-resource/mcp", "mcp.test"));
  ASSERT_EQ(prm.result_int(), 200);
  EXPECT_EQ(prm[http::field::access_control_allow_origin], "*");
  const auto doc = boost::json::parse(prm.body()).as_object();
  EXPECT_EQ(doc.at("resource").as_string(), audience);
  EXPECT_EQ(doc.at("authorization_servers").as_array().at(0).as_string(), url);
}

TEST(Auth, RotatedIssuerKeysAreFetchedOnceAndKeptWhenTheIssuerIsDown) {
  protected_gateway g;
  g.wait_for_keys();
  const auto fetches = g.issuer.hits_of("/jwks");
  auto rotated = signing_key::ec_p256("k2");
  g.issuer.set_keys({&g.key, &rotated});
  auto res = g.post(tools_call("read_file"), rotated.sign(claims(g.issuer.url())));
  EXPECT_EQ(res.result_int(), 200) << "an unknown kid refreshes the keys: " << res.body();
  EXPECT_EQ(g.issuer.hits_of("/jwks"), fetches + 1);
  // Random kids right after: refused without another fetch (at most one per 10 s).
  for (int i = 0; i < 5; ++i) {
    res = g.post(tools_call("read_file"), signing_key::ec_p256("r" + std::to_string(i)).sign(claims(g.issuer.url())));
    EXPECT_EQ(res.result_int(), 401);
  }
  EXPECT_EQ(g.issuer.hits_of("/jwks"), fetches + 1);
  {
    std::lock_guard lock(g.issuer.mutex);
    g.issuer.down = true;
  }
  EXPECT_EQ(g.post(tools_call("read_file"), g.key.sign(claims(g.issuer.url()))).result_int(), 200)
      << "cached keys outlive an issuer outage";
}

TEST(Auth, ShutdownAnswersAnExchangeWaitingForKeysAtOnce) {
  protected_gateway g;
  g.wait_for_keys();
  std::promise<void> release;
  {
    std::lock_guard lock(g.issuer.mutex);
    g.issuer.jwks_gate = release.get_future().share();
  }
  const auto fetches = g.issuer.hits_of("/jwks");
  auto rotated = signing_key::ec_p256("k2");
  auto waiting = std::async(std::launch::async, [&] {
    return g.post(tools_call("read_file"), rotated.sign(claims(g.issuer.url()))).result_int();
  });
  // The exchange waits for a key fetch the issuer holds.
  ASSERT_TRUE(wait_until([&] { return g.issuer.hits_of("/jwks") == fetches + 1; }));
  const auto started = std::chrono::steady_clock::now();
  g.gw->shutdown(10s);
  const auto took = std::chrono::steady_clock::now() - started;
  release.set_value();
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(waiting.get(), 503);
  // Neither the 10 s drain nor the issuer's fetch timeout was waited for.
  EXPECT_LT(took, 3s);
}

TEST(Auth, ApiKeysWithTheirToolsAndCallerConditions) {
  protected_gateway g(R"(tools: { allow: ["read_*", { name: write_file, scope: files:write }, { name: deploy, key: other }] }
      rate_limit: { requests: 2, per: 1m, key: caller })");
  g.wait_for_keys();
  const auto url = g.issuer.url();
  // ci-bot may only call read_*: write_file is refused as an unknown tool, read_file passes.
  auto res = g.post(tools_call("write_file"), g.bot_key);
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find("Unknown tool: write_file"), std::string::npos) << res.body();
  EXPECT_EQ(g.post(tools_call("read_file"), g.bot_key).body().substr(0, 5), "echo:");
  // A token with files:write may write; one without may not.
  auto writer = g.key.sign(claims(url, {{"scope", "mcp:tools files:write"}, {"sub", "bob"}}));
  EXPECT_EQ(g.post(tools_call("write_file"), writer).body().substr(0, 5), "echo:");
  EXPECT_NE(g.post(tools_call("write_file"), g.key.sign(claims(url, {{"sub", "carol"}}))).body().find("Unknown tool"),
            std::string::npos);
  // deploy: the key named other only.
  EXPECT_EQ(g.post(tools_call("deploy"), g.other_key).body().substr(0, 5), "echo:");
  EXPECT_NE(g.post(tools_call("deploy"), writer).body().find("Unknown tool"), std::string::npos);
  // Rate limit per caller: ci-bot has used 2 (its refused call counted too), other 1.
  EXPECT_EQ(g.post(tools_call("read_file"), g.bot_key).result_int(), 429);
  EXPECT_EQ(g.post(tools_call("read_file"), g.other_key).result_int(), 200);
  EXPECT_EQ(g.post(tools_call("read_file"), "mgk_not-a-configured-key").result_int(), 401);
}

TEST(Auth, UpstreamCredentialReplacesTheClientsAndPassThroughRoutesKeepTheirs) {
  const auto dir = make_temp_dir("mcpgate-auth");
  const auto secret = write_file(dir + "/upstream-token", "upstream-secret\n");
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen, "WWW-Authenticate: Bearer realm=\"upstream\"\r\n"));
  const auto key = auth::make_api_key();
  gateway_harness gw(fmt::format(R"(
listeners: [{{ address: "127.0.0.1:0" }}]
api_keys: [{{ name: k, sha256: {} }}]
routes:
  "*":
    - {{ path: /guarded, upstream: "http://127.0.0.1:{}", auth: {{ api_keys: true }},
        upstream_auth: {{ value_file: "{}", prefix: "Bearer " }} }}
    - {{ path: /open, upstream: "http://127.0.0.1:{}" }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                 auth::to_hex(auth::sha256_of(key)), upstream.port(), secret, upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  auto req = mcp_post(tools_call("x"));
  req.target("/guarded");
  req.set(http::field::authorization, "Bearer " + key);
  ASSERT_EQ(client.request(req).result_int(), 200);
  EXPECT_EQ(seen->at(0)[http::field::authorization], "Bearer upstream-secret");
  // No auth on the route: the client's OAuth with the upstream goes through untouched.
  req.target("/open");
  req.set(http::field::authorization, "Bearer the-upstreams-own-token");
  auto res = client.request(req);
  EXPECT_EQ(res[http::field::www_authenticate], "Bearer realm=\"upstream\"");
  EXPECT_EQ(seen->at(1)[http::field::authorization], "Bearer the-upstreams-own-token");
  std::filesystem::remove_all(dir);
}

TEST(Auth, ClientCertificatesFromTheListenersCaIdentifyCallers) {
  test_pki pki({"mcp.test"});
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(fmt::format(R"(
listeners:
  - {{ address: "127.0.0.1:0", mode: tls, tls: {{ cert_file: "{}", key_file: "{}", client_ca_file: "{}" }} }}
routes:
  "*":
    - {{ path: /admin, upstream: "http://127.0.0.1:{}", auth: {{ client_cert: {{ names: ["*.clients.test"] }} }} }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                 pki.server_cert, pki.server_key, pki.ca_cert, upstream.port()));
  const auto call = [&](bool with_certificate) {
    boost::asio::io_context io;
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(pki.ca_cert);
    ctx.set_verify_mode(ssl::verify_peer);
    if (with_certificate) {
      ctx.use_certificate_chain_file(pki.client_cert);
      ctx.use_private_key_file(pki.client_key, ssl::context::pem);
    }
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream(io, ctx);
    SSL_set_tlsext_host_name(stream.native_handle(), "mcp.test");
    boost::beast::get_lowest_layer(stream).expires_after(10s);
    boost::beast::get_lowest_layer(stream).connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), gw.port()));
    stream.handshake(ssl::stream_base::client);
    auto req = mcp_post(tools_call("x"), "mcp.test");
    req.target("/admin");
    req.prepare_payload();
    bhttp::write(stream, req);
    boost::beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buf, res);
    return res.result_int();
  };
  EXPECT_EQ(call(true), 200u);
  EXPECT_EQ(call(false), 403u) << "optional client auth: the handshake works, the route refuses";
  EXPECT_EQ(seen->size(), 1u);
}

}  // namespace
}  // namespace mcpgate::test
