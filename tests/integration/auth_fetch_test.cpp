// The gateway's own HTTPS fetches (OAuth metadata and keys) against local servers: what is
// fetched, and every way a fetch is refused before or after connecting.
#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <gtest/gtest.h>

#include "auth/fetch.hpp"
#include "support/https_test_server.hpp"

namespace mcpgate::auth {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using test::https_test_server;
using test::simple_response;
using namespace std::chrono_literals;

fetch_result run_fetch(fetch_request request, const fetch_rules& rules) {
  asio::io_context io;
  fetch_result out;
  asio::co_spawn(io, fetch(io.get_executor(), std::move(request), rules),
                 [&](std::exception_ptr, fetch_result r) { out = std::move(r); });
  io.run();
  return out;
}

fetch_result run_get(const std::string& url, const fetch_rules& rules) {
  return run_fetch(fetch_request::get(url), rules);
}

fetch_rules local_rules(const https_test_server& server) {
  fetch_rules rules;
  rules.allowed_ips = {*net::ip_prefix::parse("127.0.0.1/32")};
  rules.ca_file = server.ca_file();
  return rules;
}

https_test_server::responder answer(unsigned status, std::string body, std::string headers = {}) {
  return [=](const https_test_server::request&) -> std::optional<std::string> {
    return simple_response(status, body, headers);
  };
}

TEST(AuthFetch, GetsFromAnAllowedLocalServer) {
  https_test_server server(answer(200, R"({"keys":[]})", "Content-Type: application/json\r\n"));
  auto res = run_get(server.url("/jwks?x=1"), local_rules(server));
  ASSERT_TRUE(res.ok()) << res.error;
  EXPECT_EQ(res.status, 200u);
  EXPECT_EQ(res.body, R"({"keys":[]})");
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_EQ(res.final_url, server.url("/jwks?x=1"));
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method(), bhttp::verb::get);
  EXPECT_EQ(seen[0].target(), "/jwks?x=1");
  EXPECT_EQ(seen[0][bhttp::field::host], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0][bhttp::field::accept_encoding], "identity");
  EXPECT_EQ(seen[0].count(bhttp::field::cookie), 0u);
}

TEST(AuthFetch, ChecksEveryAddressOfAName) {
  https_test_server server(answer(200, "{}"));
  auto rules = local_rules(server);
  // localhost may resolve to ::1 too: with both allowed the certificate's DNS name is used.
  rules.allowed_ips.push_back(*net::ip_prefix::parse("::1/128"));
  auto res = run_get("https://localhost:" + std::to_string(server.port()) + "/", rules);
  EXPECT_TRUE(res.ok()) << res.error;
}

TEST(AuthFetch, LoopbackIsRefusedWithoutAllowedIps) {
  https_test_server server(answer(200, "{}"));
  auto rules = local_rules(server);
  rules.allowed_ips.clear();
  auto res = run_get(server.url("/jwks"), rules);
  EXPECT_NE(res.error.find("address not allowed"), std::string::npos) << res.error;
  EXPECT_NE(res.error.find("127.0.0.1"), std::string::npos) << res.error;
  EXPECT_EQ(res.status, 0u);
  EXPECT_EQ(server.connections(), 0);
}

TEST(AuthFetch, PlainHttpIsRefused) {
  https_test_server server(answer(200, "{}"));
  auto res = run_get("http://127.0.0.1:" + std::to_string(server.port()) + "/jwks", local_rules(server));
  EXPECT_NE(res.error.find("not https"), std::string::npos) << res.error;
  EXPECT_EQ(server.connections(), 0);
}

TEST(AuthFetch, CertificateFromAnotherCaIsATlsError) {
  https_test_server server(answer(200, "{}"));
  test::test_pki other({"localhost"}, {"127.0.0.1"});
  auto rules = local_rules(server);
  rules.ca_file = other.ca_cert;
  auto res = run_get(server.url("/jwks"), rules);
  EXPECT_NE(res.error.find("TLS with 127.0.0.1"), std::string::npos) << res.error;
  EXPECT_TRUE(server.requests().empty());
}

TEST(AuthFetch, FollowsARelativeRedirect) {
  https_test_server server([](const https_test_server::request& req) -> std::optional<std::string> {
    if (req.target() == "/a/old") return simple_response(302, "", "Location: ../new?v=2#frag\r\n");
    return simple_response(200, "moved here");
  });
  auto res = run_get(server.url("/a/old"), local_rules(server));
  ASSERT_TRUE(res.ok()) << res.error;
  EXPECT_EQ(res.body, "moved here");
  EXPECT_EQ(res.final_url, server.url("/new?v=2"));
  EXPECT_EQ(server.count("/new?v=2"), 1u);
}

TEST(AuthFetch, RedirectToADisallowedAddressIsRefused) {
  https_test_server server([](const https_test_server::request& req) -> std::optional<std::string> {
    if (req.target() == "/to-private") return simple_response(302, "", "Location: https://10.1.2.3/x\r\n");
    if (req.target() == "/to-metadata") return simple_response(307, "", "Location: https://169.254.169.254/\r\n");
    return simple_response(301, "", "Location: http://127.0.0.1/x\r\n");
  });
  for (const auto* path : {"/to-private", "/to-metadata"}) {
    auto res = run_get(server.url(path), local_rules(server));
    EXPECT_NE(res.error.find("address not allowed"), std::string::npos) << path << ": " << res.error;
  }
  auto res = run_get(server.url("/to-http"), local_rules(server));
  EXPECT_NE(res.error.find("not https"), std::string::npos) << res.error;
  EXPECT_EQ(server.connections(), 3);
}

TEST(AuthFetch, RedirectLoopStopsAtTheLimit) {
  https_test_server server(answer(302, "", "Location: /loop\r\n"));
  auto rules = local_rules(server);
  rules.max_redirects = 2;
  auto res = run_get(server.url("/loop"), rules);
  EXPECT_NE(res.error.find("more than 2 redirects"), std::string::npos) << res.error;
  EXPECT_EQ(server.count("/loop"), 3u);  // the first request and two redirects
}

TEST(AuthFetch, OversizedResponsesAreRefused) {
  https_test_server server([](const https_test_server::request& req) -> std::optional<std::string> {
    if (req.target() == "/header") return simple_response(200, "{}", "X-Big: " + std::string(20000, 'a') + "\r\n");
    if (req.target() == "/chunked") {
      return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + test::chunk(std::string(800, 'x')) +
             test::chunk(std::string(800, 'x')) + test::chunk("");
    }
    return simple_response(200, std::string(4096, 'x'));
  });
  auto rules = local_rules(server);
  rules.max_body_bytes = 1024;
  for (const auto* path : {"/body", "/chunked"}) {
    auto res = run_get(server.url(path), rules);
    EXPECT_NE(res.error.find("response too large"), std::string::npos) << path << ": " << res.error;
    EXPECT_TRUE(res.body.empty());
  }
  auto res = run_get(server.url("/header"), rules);
  EXPECT_NE(res.error.find("response header too large"), std::string::npos) << res.error;
}

TEST(AuthFetch, SlowServerTimesOut) {
  https_test_server server([](const https_test_server::request&) -> std::optional<std::string> { return std::nullopt; });
  auto rules = local_rules(server);
  rules.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto res = run_get(server.url("/jwks"), rules);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_NE(res.error.find("timed out"), std::string::npos) << res.error;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(server.count("/jwks"), 1u);
}

TEST(AuthFetch, NonSuccessStatusIsAnErrorThatKeepsTheBody) {
  https_test_server server(answer(400, R"({"error":"invalid_request"})"));
  auto res = run_get(server.url("/token"), local_rules(server));
  EXPECT_NE(res.error.find("answered 400"), std::string::npos) << res.error;
  EXPECT_EQ(res.status, 400u);
  EXPECT_EQ(res.body, R"({"error":"invalid_request"})");
}

TEST(AuthFetch, PostCarriesItsBodyAndHeadersOnlyWithinTheOrigin) {
  https_test_server other(answer(200, "other"));
  https_test_server server([&](const https_test_server::request& req) -> std::optional<std::string> {
    if (req.target() == "/see-other") return simple_response(303, "", "Location: /result\r\n");
    if (req.target() == "/moved") return simple_response(308, "", "Location: " + other.url("/token") + "\r\n");
    return simple_response(200, "ok");
  });
  auto rules = local_rules(server);
  fetch_request post;
  post.method = fetch_method::post;
  post.url = server.url("/see-other");
  post.body = "grant_type=client_credentials";
  post.content_type = "application/x-www-form-urlencoded";
  post.headers = {{"Authorization", "Basic Y2xpZW50OnNlY3JldA=="}};
  auto res = run_fetch(post, rules);
  ASSERT_TRUE(res.ok()) << res.error;
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method(), bhttp::verb::post);
  EXPECT_EQ(seen[0].body(), "grant_type=client_credentials");
  EXPECT_EQ(seen[0][bhttp::field::content_type], "application/x-www-form-urlencoded");
  EXPECT_EQ(seen[0][bhttp::field::authorization], "Basic Y2xpZW50OnNlY3JldA==");
  // 303: the answer is fetched with a GET, same origin so the credentials go along.
  EXPECT_EQ(seen[1].method(), bhttp::verb::get);
  EXPECT_TRUE(seen[1].body().empty());
  EXPECT_EQ(seen[1][bhttp::field::authorization], "Basic Y2xpZW50OnNlY3JldA==");

  // 308 to another origin: the body (which may hold a credential, such as an introspected
  // token) is not repeated there. The other server has its own CA, so trust both.
  rules.ca_file = test::trust_all({&server, &other});
  post.url = server.url("/moved");
  res = run_fetch(post, rules);
  EXPECT_NE(res.error.find("redirected to another origin"), std::string::npos) << res.error;
  EXPECT_TRUE(other.requests().empty());
}

TEST(AuthFetch, HeaderWithALineBreakIsRefused) {
  fetch_request req = fetch_request::get("https://example.com/");
  req.headers = {{"X-Evil", "a\r\nHost: other"}};
  auto res = run_fetch(req, {});
  EXPECT_NE(res.error.find("line break"), std::string::npos) << res.error;
}

// The classification itself, address by address.
bool refused(const std::string& text, const fetch_rules& rules = {}) {
  return !address_refusal(asio::ip::make_address(text), rules).empty();
}

TEST(AuthFetchAddress, SpecialPurposeIPv4IsRefused) {
  for (const auto* a : {"127.0.0.1", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                        "100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1",
                        "239.255.255.250", "192.0.2.10", "198.51.100.7", "203.0.113.9", "198.18.0.1", "240.0.0.1",
                        "192.0.0.8"}) {
    EXPECT_TRUE(refused(a)) << a;
  }
  for (const auto* a : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1", "11.0.0.1", "223.255.255.254"}) {
    EXPECT_FALSE(refused(a)) << a;
  }
}

TEST(AuthFetchAddress, SpecialPurposeIPv6IsRefused) {
  for (const auto* a : {"::1", "::", "fe80::1", "febf::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
                        "::7f00:1", "2002:7f00:1::1", "2001::1", "64:ff9b:1::1", "100::1", "fec0::1"}) {
    EXPECT_TRUE(refused(a)) << a;
  }
  for (const auto* a : {"2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1"}) {
    EXPECT_FALSE(refused(a)) << a;
  }
}

TEST(AuthFetchAddress, MappedAndTranslatedFormsAreJudgedByTheirIPv4) {
  for (const auto* a : {"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1",
                        "64:ff9b::7f00:1", "64:ff9b::10.0.0.1", "64:ff9b::a9fe:a9fe"}) {
    EXPECT_TRUE(refused(a)) << a;
  }
  // A NAT64 network reaches public IPv4 issuers through 64:ff9b::/96.
  for (const auto* a : {"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "64:ff9b::101:101"}) {
    EXPECT_FALSE(refused(a)) << a;
  }
}

TEST(AuthFetchAddress, AllowedIpsAreTheOperatorsExceptions) {
  fetch_rules rules;
  rules.allowed_ips = {*net::ip_prefix::parse("127.0.0.1/32"), *net::ip_prefix::parse("fd00::/8")};
  EXPECT_FALSE(refused("127.0.0.1", rules));
  EXPECT_FALSE(refused("::ffff:127.0.0.1", rules));
  EXPECT_FALSE(refused("fd00::5", rules));
  EXPECT_TRUE(refused("127.0.0.2", rules));
  EXPECT_TRUE(refused("::1", rules));
  EXPECT_NE(address_refusal(asio::ip::make_address("::ffff:10.0.0.1"), rules).find("10.0.0.1,"), std::string::npos);
}

}  // namespace
}  // namespace mcpgate::auth
