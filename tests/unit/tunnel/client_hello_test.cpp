// The edge's ClientHello peek against real ClientHellos made by OpenSSL (TLS 1.2 and 1.3,
// with and without SNI and ALPN), at every split point, and against broken input.
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tunnel/client_hello.hpp"

namespace mcpgate::tunnel {
namespace {

// The bytes an OpenSSL client sends first.
std::vector<std::uint8_t> client_hello(const char* server_name, const std::vector<std::string>& alpn,
                                       int max_version = TLS1_3_VERSION) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);
  if (server_name) SSL_set_tlsext_host_name(ssl.get(), server_name);
  if (!alpn.empty()) {
    std::vector<unsigned char> wire;
    for (const auto& p : alpn) {
      wire.push_back(static_cast<unsigned char>(p.size()));
      wire.insert(wire.end(), p.begin(), p.end());
    }
    SSL_set_alpn_protos(ssl.get(), wire.data(), static_cast<unsigned>(wire.size()));
  }
  SSL_set_connect_state(ssl.get());
  SSL_do_handshake(ssl.get());  // wants to read the ServerHello: the ClientHello is in `out`
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  return std::vector<std::uint8_t>(data, data + n);
}

TEST(ClientHello, RealHellosGiveTheirServerNameAndAlpnAtEverySplit) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    const auto hello = client_hello("Hello.Tunnel.Example.COM", {"h2", "http/1.1"}, version);
    const auto whole = parse_client_hello(hello);
    ASSERT_EQ(whole.status, hello_status::ok) << whole.error;
    EXPECT_EQ(whole.info.server_name, "hello.tunnel.example.com");
    EXPECT_EQ(whole.info.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
    EXPECT_EQ(whole.info.client_version, 0x0303);
    EXPECT_EQ(whole.consumed, hello.size());
    for (std::size_t cut = 0; cut < hello.size(); ++cut) {
      const auto part = parse_client_hello(std::span(hello).first(cut));
      ASSERT_EQ(part.status, hello_status::need_more) << "cut " << cut << ": " << part.error;
    }
    // Bytes after the ClientHello (the client sends nothing more before the ServerHello,
    // but a pipelining one could): not part of it.
    auto more = hello;
    more.push_back(23);
    EXPECT_EQ(parse_client_hello(more).consumed, hello.size());
  }
}

TEST(ClientHello, NoSniIsOkWithAnEmptyName) {
  const auto hello = client_hello(nullptr, {});
  const auto r = parse_client_hello(hello);
  ASSERT_EQ(r.status, hello_status::ok) << r.error;
  EXPECT_EQ(r.info.server_name, "");
  EXPECT_TRUE(r.info.alpn.empty());
}

TEST(ClientHello, AHelloSplitOverTwoRecordsIsReassembled) {
  const auto hello = client_hello("a.example.com", {});
  // Re-frame the one handshake record as two records of the same type.
  const std::vector<std::uint8_t> payload(hello.begin() + 5, hello.end());
  const std::size_t half = payload.size() / 2;
  std::vector<std::uint8_t> split;
  for (auto [from, to] : {std::pair{std::size_t{0}, half}, std::pair{half, payload.size()}}) {
    const std::size_t n = to - from;
    split.insert(split.end(), {22, 3, 1, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n & 0xff)});
    split.insert(split.end(), payload.begin() + static_cast<long>(from), payload.begin() + static_cast<long>(to));
  }
  const auto r = parse_client_hello(split);
  ASSERT_EQ(r.status, hello_status::ok) << r.error;
  EXPECT_EQ(r.info.server_name, "a.example.com");
  EXPECT_EQ(r.consumed, split.size());
}

TEST(ClientHello, WhatIsNotAClientHelloIsSaidSo) {
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(parse_client_hello(std::span(reinterpret_cast<const std::uint8_t*>(http.data()), http.size())).status,
            hello_status::not_tls);
  EXPECT_EQ(parse_client_hello(std::vector<std::uint8_t>{'G'}).status, hello_status::not_tls);
  EXPECT_EQ(parse_client_hello(std::vector<std::uint8_t>{}).status, hello_status::need_more);

  auto hello = client_hello("x.example.com", {});
  auto wrong_type = hello;
  wrong_type[5] = 2;  // a ServerHello
  EXPECT_EQ(parse_client_hello(wrong_type).status, hello_status::malformed);
  auto bad_length = hello;
  bad_length[3] = 0x7f;  // a record longer than TLS allows
  EXPECT_EQ(parse_client_hello(bad_length).status, hello_status::malformed);
  // A claimed ClientHello longer than the bound: refused before waiting for it all.
  auto huge = hello;
  huge[6] = 0x01;  // handshake length 65536 + ...
  EXPECT_EQ(parse_client_hello(huge, 4096).status, hello_status::too_large);
  // An IP literal or junk as SNI is malformed (RFC 6066: host names only).
  auto sni = client_hello("aaaa.example.com", {});
  for (std::size_t i = 0; i + 4 <= sni.size(); ++i) {
    if (std::string(sni.begin() + static_cast<long>(i), sni.begin() + static_cast<long>(i) + 4) == "aaaa") {
      sni[i] = '/';
      break;
    }
  }
  const auto junk = parse_client_hello(sni);
  EXPECT_EQ(junk.status, hello_status::malformed);
  EXPECT_EQ(junk.error, "server_name is not a DNS host name");
}

TEST(ClientHello, NamesUnderADomainAreMatchedAtLabelBoundaries) {
  EXPECT_TRUE(name_is_under("hello.t1.edge.example", "t1.edge.example"));
  EXPECT_TRUE(name_is_under("t1.edge.example", "t1.edge.example"));
  EXPECT_TRUE(name_is_under("a.b.t1.edge.example", "t1.edge.example"));
  EXPECT_FALSE(name_is_under("evilt1.edge.example", "t1.edge.example"));
  EXPECT_FALSE(name_is_under("edge.example", "t1.edge.example"));
  EXPECT_FALSE(name_is_under("anything", ""));
}

}  // namespace
}  // namespace mcpgate::tunnel
