// TLS on both sides: a tls listener (with a test PKI made at test time) and https upstreams
// verified against upstream.tls.ca_file with host-name verification.
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/test_pki.hpp"

namespace mcpgate::test {
namespace {

namespace ssl = boost::asio::ssl;
using namespace std::chrono_literals;

// One HTTPS request from a verifying client; returns status and body or throws.
std::pair<unsigned, std::string> https_request(std::uint16_t port, const std::string& sni, const std::string& ca_file,
                                               const std::string& target = "/mcp") {
  boost::asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(ssl::verify_peer);
  boost::beast::ssl_stream<boost::beast::tcp_stream> stream(io, ctx);
  SSL_set_tlsext_host_name(stream.native_handle(), sni.c_str());
  stream.set_verify_callback(ssl::host_name_verification(sni));
  boost::beast::get_lowest_layer(stream).expires_after(10s);
  boost::beast::get_lowest_layer(stream).connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  stream.handshake(ssl::stream_base::client);
  auto req = mcp_post("{\"tls\":true}", sni);
  req.target(target);
  req.prepare_payload();
  bhttp::write(stream, req);
  boost::beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buf, res);
  return {res.result_int(), res.body()};
}

TEST(Tls, ListenerServesHttpsWithItsCertificate) {
  test_pki pki({"mcp.example.test", "*.mcp.example.test"});
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(fmt::format(R"(
listeners:
  - {{ address: "127.0.0.1:0", mode: tls }}
tls: {{ cert_file: "{}", key_file: "{}" }}
routes: {{ "*": "http://127.0.0.1:{}" }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                 pki.server_cert, pki.server_key, upstream.port()));
  auto [status, body] = https_request(gw.port(), "echo.mcp.example.test", pki.ca_cert);
  EXPECT_EQ(status, 200u);
  EXPECT_EQ(body, "echo:{\"tls\":true}");
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->at(0)["X-Forwarded-Proto"], "https");

  // A client that trusts another CA fails the handshake; the gateway keeps serving.
  test_pki other({"mcp.example.test"});
  EXPECT_THROW(https_request(gw.port(), "echo.mcp.example.test", other.ca_cert), boost::system::system_error);
  EXPECT_EQ(https_request(gw.port(), "echo.mcp.example.test", pki.ca_cert).first, 200u);
}

TEST(Tls, MissingCertificateFileStopsStartupWithItsName) {
  EXPECT_THROW(
      {
        try {
          gateway_harness gw(R"(
listeners: [ { address: "127.0.0.1:0", mode: tls } ]
tls: { cert_file: /nonexistent/tls.crt, key_file: /nonexistent/tls.key }
routes: { "*": "http://10.0.0.1:80" }
)");
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("/nonexistent/tls.crt"), std::string::npos) << e.what();
          throw;
        }
      },
      std::runtime_error);
}

// An HTTPS upstream on 127.0.0.1 presenting a certificate for "localhost".
fake_upstream::handler tls_echo(std::shared_ptr<ssl::context> ctx) {
  return https_handler(ctx, [](const bhttp::request<bhttp::string_body>& req) {
    bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
    res.body() = "tls-upstream:" + req.body();
    return res;
  });
}

TEST(Tls, HttpsUpstreamIsVerifiedAgainstTheConfiguredCa) {
  test_pki pki({"localhost"});
  fake_upstream upstream(tls_echo(server_tls_context(pki.server_cert, pki.server_key)));

  const auto config = [&](const std::string& ca_file) {
    return fmt::format(R"(
listeners: [ {{ address: "127.0.0.1:0" }} ]
routes: {{ "*": "https://localhost:{}" }}
upstream:
  allowed_ips: [127.0.0.0/8, "::1/128"]
  tls: {{ ca_file: "{}" }}
)",
                       upstream.port(), ca_file);
  };
  {
    gateway_harness gw(config(pki.ca_cert));
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    auto res = client.request(mcp_post("[]"));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "tls-upstream:[]");
  }
  {
    test_pki other({"localhost"});
    gateway_harness gw(config(other.ca_cert));  // trusts the wrong CA
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    EXPECT_EQ(client.request(mcp_post("[]")).result_int(), 502);
  }
}

}  // namespace
}  // namespace mcpgate::test
