// What route `auth:` costs:
//   1. verify_jwt per token, for each signature algorithm (in-process, no I/O);
//   2. requests/s through one gateway worker, same upstream, same request, on a route
//      without auth, with an API key, and with OAuth (ES256, RS256 and EdDSA tokens checked
//      against keys fetched from a local HTTPS issuer), driven by wrk on loopback.
//
//   cmake --build build --target auth_bench && build/bench/auth/auth_bench [seconds per run]
//   (needs wrk; bench/run runs it with the other benchmarks)
#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "auth/api_key.hpp"
#include "auth/authenticate.hpp"
#include "auth/jwt.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/http_test_client.hpp"
#include "support/jwt_signer.hpp"
#include "support/test_pki.hpp"
#include "../common/wrk.hpp"

using namespace mcpgate;
using namespace mcpgate::test;
using mcpgate::bench::wrk_rate;
namespace ssl = boost::asio::ssl;

namespace {

constexpr const char* audience = "https://bench.test/jwt";

boost::json::object claims(const std::string& issuer) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return {{"iss", issuer}, {"sub", "bench"}, {"aud", audience}, {"exp", now + 3600}, {"iat", now}, {"scope", "mcp:tools"}};
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
  auto ec = signing_key::ec_p256("ec");
  auto rsa = signing_key::rsa("rsa");
  auto ed = signing_key::ed25519("ed");

  // 1. verify_jwt alone.
  std::printf("verify_jwt (in-process, one thread)\n");
  auto parsed = auth::parse_jwk_set(jwks_json({&ec, &rsa, &ed}));
  auth::claim_rules rules;
  rules.issuer = "https://issuer.bench";
  rules.audiences = {audience};
  for (const auto* key : {&ec, &rsa, &ed}) {
    const auto token = key->sign(claims(rules.issuer));
    constexpr int n = 20000;
    const auto start = std::chrono::steady_clock::now();
    int ok = 0;
    for (int i = 0; i < n; ++i) ok += auth::verify_jwt(token, *parsed.set, rules, std::chrono::system_clock::now()).claims ? 1 : 0;
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
    std::printf("  %-6s %7.1f us/token (%d/%d verified)\n", key->alg.c_str(), us, ok, n);
  }

  // 2. Through the gateway.
  test_pki pki({"localhost"}, {"127.0.0.1"});
  std::string issuer_url;
  const auto jwks = jwks_json({&ec, &rsa, &ed});
  fake_upstream issuer(https_handler(server_tls_context(pki.server_cert, pki.server_key),
                                     [&](const bhttp::request<bhttp::string_body>& req) {
                                       bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
                                       res.body() = req.target() == "/jwks"
                                                        ? jwks
                                                        : boost::json::serialize(boost::json::object{
                                                              {"issuer", issuer_url}, {"jwks_uri", issuer_url + "/jwks"}});
                                       return res;
                                     }));
  issuer_url = fmt::format("https://127.0.0.1:{}", issuer.port());
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream([](tcp::socket& socket) {
    boost::beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    while (read_request(socket, buffer, req)) {
      if (!write_raw(socket, simple_response(200, R"({"jsonrpc":"2.0","id":1,"result":{}})", "Content-Type: application/json\r\n"))) return;
    }
  });
  const auto key = auth::make_api_key();
  gateway_harness gw(fmt::format(R"(
listeners: [{{ address: "127.0.0.1:0" }}]
workers: 1
api_keys: [{{ name: bench, sha256: {} }}]
routes:
  "*":
    - {{ path: /open, upstream: "http://127.0.0.1:{}" }}
    - {{ path: /key, upstream: "http://127.0.0.1:{}", auth: {{ api_keys: true }} }}
    - path: /jwt
      upstream: "http://127.0.0.1:{}"
      auth: {{ oauth: {{ issuer: "{}", audience: "{}", scopes: [mcp:tools], ca_file: "{}", allowed_ips: [127.0.0.1/32] }} }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
log_level: error
)",
                                 auth::to_hex(auth::sha256_of(key)), upstream.port(), upstream.port(), upstream.port(),
                                 issuer_url, audience, pki.ca_cert));
  // Wait for the issuer's keys (503 until then).
  const auto probe = ec.sign(claims(issuer_url));
  for (int i = 0; i < 400; ++i) {
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    auto req = make_request(bhttp::verb::post, "/jwt", "bench.test", "{}");
    req.set(bhttp::field::authorization, "Bearer " + probe);
    req.set(bhttp::field::content_type, "application/json");
    if (client.request(req).result_int() != 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Each variant right after a run without auth, and compared with that run: the machine
  // drifts over a minute of load (2 cores shared by wrk, the gateway and the upstream).
  std::printf("\nthrough the gateway (1 worker, wrk -t1 -c16 -d%ds, same upstream; each ratio against the\n"
              "no-auth run just before it)\n", seconds);
  struct variant {
    std::string name, path, token;
  };
  const std::vector<variant> variants{{"API key", "/key", key},
                                      {"OAuth JWT ES256", "/jwt", ec.sign(claims(issuer_url))},
                                      {"OAuth JWT RS256", "/jwt", rsa.sign(claims(issuer_url))},
                                      {"OAuth JWT EdDSA", "/jwt", ed.sign(claims(issuer_url))}};
  constexpr int pairs = 3;
  double open_total = 0;
  int open_runs = 0;
  for (const auto& v : variants) {
    std::vector<double> ratios;
    double rate = 0, open = 0;
    for (int i = 0; i < pairs; ++i) {
      open = wrk_rate(gw.port(), "/open", "", seconds);
      rate = wrk_rate(gw.port(), v.path, v.token, seconds);
      ratios.push_back(rate / open);
    }
    std::sort(ratios.begin(), ratios.end());
    std::printf("  %-16s %9.0f req/s vs %9.0f without auth (last pair); median of %d pairs: %5.1f%%\n", v.name.c_str(),
                rate, open, pairs, 100 * ratios[pairs / 2]);
    open_total += open;
    ++open_runs;
  }

  // 3. The same decision without the machine's noise: what auth::decide costs a request
  // whose token was seen before (the worker's verified-token cache), against the CPU time
  // one request costs the worker at the rate measured without auth.
  const double request_ns = 1e9 / (open_total / open_runs);
  std::printf("\nauth::decide per request, token seen before (in-process, one thread), against the %.1f us a\n"
              "request costs the worker without auth\n", request_ns / 1000);
  const auto snap = gw.gateway().snapshot();
  const auto& jwt_route = snap->cfg->routes[2];
  const auto keys = std::make_shared<const auth::jwk_set>(*parsed.set);
  for (const auto& v : variants) {
    const auto header = v.path == "/key" ? "Bearer " + key : "Bearer " + v.token;
    const auto& route = v.path == "/key" ? snap->cfg->routes[1] : jwt_route;
    auth::presented request;
    request.authorization = header;
    request.authorization_fields = 1;
    request.target = v.path;
    constexpr int n = 200000;
    int allowed = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      const auto d = auth::decide(route, request, snap->cfg->api_keys, keys, std::chrono::system_clock::now());
      allowed += d.verdict == auth::decision::kind::allowed ? 1 : 0;
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / n;
    std::printf("  %-16s %6.0f ns = %4.1f%% of a request (%d/%d allowed)\n", v.name.c_str(), ns, 100 * ns / request_ns,
                allowed, n);
  }
  return 0;
}
