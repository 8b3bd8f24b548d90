#include "net/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mcpgate::net {
namespace {

proxy_header_result parse(const std::string& bytes) {
  return parse_proxy_header({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

std::string v2(std::uint8_t command, std::uint8_t family, const std::vector<std::uint8_t>& payload) {
  std::string out("\r\n\r\n\0\r\nQUIT\n", 12);
  out += static_cast<char>(0x20 | command);
  out += static_cast<char>(family);
  out += static_cast<char>(payload.size() >> 8);
  out += static_cast<char>(payload.size() & 0xff);
  out.append(payload.begin(), payload.end());
  return out;
}

using status = proxy_header_result::status;

TEST(ProxyProtocol, Version1) {
  const std::string line = "PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n";
  auto r = parse(line + "\x16\x03\x01");  // a ClientHello right behind it is not part of the header
  ASSERT_EQ(r.state, status::complete) << r.error;
  EXPECT_EQ(r.length, line.size());
  EXPECT_EQ(r.source->to_string(), "203.0.113.7");
  EXPECT_EQ(parse("PROXY TCP6 2001:db8::7 2001:db8::1 1 2\r\n").source->to_string(), "2001:db8::7");
  auto unknown = parse("PROXY UNKNOWN\r\nGET /");
  EXPECT_EQ(unknown.state, status::complete);
  EXPECT_EQ(unknown.length, 15u);
  EXPECT_FALSE(unknown.source);
  EXPECT_EQ(parse("PROXY TCP4 203.0.113.7 10.0").state, status::need_more);
  EXPECT_EQ(parse("PRO").state, status::need_more);
  for (const char* bad : {"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n", "PROXY TCP4 1.2.3.4 10.0.0.1 1\r\n",
                          "PROXY TCP4 1.2.3.4 10.0.0.1 1 99999\r\n", "PROXY SCTP 1.2.3.4 10.0.0.1 1 2\r\n",
                          "GET / HTTP/1.1\r\n", "\x16\x03\x01\x02\x00"}) {
    EXPECT_EQ(parse(bad).state, status::invalid) << bad;
  }
  EXPECT_EQ(parse("PROXY TCP4 " + std::string(120, '1')).state, status::invalid);
}

TEST(ProxyProtocol, Version2) {
  const auto header = v2(1, 0x11, {203, 0, 113, 7, 10, 0, 0, 1, 0xc8, 0x22, 0x01, 0xbb});
  auto r = parse(header + "\x16\x03\x01");
  ASSERT_EQ(r.state, status::complete) << r.error;
  EXPECT_EQ(r.length, 28u);
  EXPECT_EQ(r.source->to_string(), "203.0.113.7");

  std::vector<std::uint8_t> six(36, 0);
  six[0] = 0x20; six[1] = 0x01; six[2] = 0x0d; six[3] = 0xb8; six[15] = 7;
  six.insert(six.end(), {0x03, 0x00, 0x04, 0x00, 0x00});  // a TLV after the addresses is skipped
  auto r6 = parse(v2(1, 0x21, six));
  ASSERT_EQ(r6.state, status::complete);
  EXPECT_EQ(r6.length, 16u + six.size());
  EXPECT_EQ(r6.source->to_string(), "2001:db8::7");

  auto local = parse(v2(0, 0x00, {}));  // LOCAL: a health check from the balancer itself
  EXPECT_EQ(local.state, status::complete);
  EXPECT_FALSE(local.source);
  EXPECT_EQ(parse(header.substr(0, 20)).state, status::need_more);
  EXPECT_EQ(parse(header.substr(0, 5)).state, status::need_more);
  EXPECT_EQ(parse(v2(1, 0x11, {1, 2, 3})).state, status::invalid);  // truncated addresses
  EXPECT_EQ(parse(v2(2, 0x11, {})).state, status::invalid);         // unknown command
  std::string big = v2(1, 0x11, {});
  big[14] = 0x20;  // 8 KiB payload announced
  EXPECT_EQ(parse(big).state, status::invalid);
}

TEST(ProxyProtocol, HeaderWeWriteParsesBackToTheClient) {
  using boost::asio::ip::make_address;
  using boost::asio::ip::tcp;
  const tcp::endpoint gateway(make_address("127.0.0.1"), 8443);
  for (const auto* client : {"203.0.113.7", "2001:db8::42"}) {
    const tcp::endpoint source(make_address(client), 51234);
    const std::string header = make_proxy_v2_header(source, gateway);
    const auto r = parse(header + "\x16\x03\x01");  // a ClientHello follows
    ASSERT_EQ(r.state, proxy_header_result::status::complete) << client << ": " << r.error;
    EXPECT_EQ(r.length, header.size());
    ASSERT_TRUE(r.source);
    EXPECT_EQ(r.source->to_string(), client);
  }
}

}  // namespace
}  // namespace mcpgate::net
