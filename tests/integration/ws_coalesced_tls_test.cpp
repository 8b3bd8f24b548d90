// cloudflared forwards what it reads from the client's TCP connection as WebSocket
// messages, so a client's TLS Finished and its first request (sent back to back, as TLS 1.3
// clients do) often arrive in ONE message. The gateway must answer that request at once.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/test_pki.hpp"

namespace mcpgate::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace std::chrono_literals;

std::string drain(BIO* bio) {
  std::string out;
  char buf[4096];
  int n;
  while ((n = BIO_read(bio, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

TEST(WebSocketListener, FinishedAndRequestInOneMessageAreAnsweredAtOnce) {
  const std::string domain = "abcd1234.tunnel.example.test";
  test_pki pki({domain, "*." + domain});
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(fmt::format(R"(
listen_addr: "127.0.0.1:0"
tunnel_domain: {}
tls: {{ cert_file: "{}", key_file: "{}" }}
routes: {{ echo: "http://127.0.0.1:{}" }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                 domain, pki.server_cert, pki.server_key, upstream.port()));

  asio::io_context io;
  beast::websocket::stream<beast::tcp_stream> ws(io);
  beast::get_lowest_layer(ws).expires_after(10s);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), gw.port()));
  ws.binary(true);
  ws.handshake("echo." + domain, "/");

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_EQ(SSL_CTX_load_verify_locations(ctx, pki.ca_cert.c_str(), nullptr), 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  const std::string host = "echo." + domain;
  SSL_set_tlsext_host_name(ssl, host.c_str());
  SSL_set_connect_state(ssl);

  beast::flat_buffer frame;
  while (SSL_do_handshake(ssl) != 1) {
    ASSERT_EQ(SSL_get_error(ssl, -1), SSL_ERROR_WANT_READ);
    if (auto bytes = drain(out); !bytes.empty()) ws.write(asio::buffer(bytes));
    frame.clear();
    ws.read(frame);
    const auto data = frame.data();
    BIO_write(in, data.data(), static_cast<int>(data.size()));
  }
  // The Finished is still in `out`: the request joins it in one message.
  const std::string body = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  const std::string request = fmt::format(
      "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, "
      "text/event-stream\r\nContent-Length: {}\r\n\r\n{}",
      host, body.size(), body);
  ASSERT_EQ(SSL_write(ssl, request.data(), static_cast<int>(request.size())), static_cast<int>(request.size()));
  const std::string both = drain(out);
  ws.write(asio::buffer(both));

  std::string response;
  beast::get_lowest_layer(ws).expires_after(3s);  // a stall fails here instead of hanging
  while (response.find("echo:") == std::string::npos) {
    frame.clear();
    boost::system::error_code ec = asio::error::would_block;
    ws.async_read(frame, [&](boost::system::error_code e, std::size_t) { ec = e; });
    io.restart();
    io.run();
    ASSERT_FALSE(ec) << "no answer within 3 s: " << ec.message();
    const auto data = frame.data();
    BIO_write(in, data.data(), static_cast<int>(data.size()));
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) response.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_NE(response.find("HTTP/1.1 200"), std::string::npos) << response;
  SSL_free(ssl);
  SSL_CTX_free(ctx);
}

}  // namespace
}  // namespace mcpgate::test
