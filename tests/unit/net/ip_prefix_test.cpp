#include "net/ip_prefix.hpp"

#include <boost/asio/ip/address.hpp>
#include <gtest/gtest.h>

namespace mcpgate::net {
namespace {

boost::asio::ip::address addr(const char* text) { return boost::asio::ip::make_address(text); }

TEST(IpPrefix, ParsesIpv4CidrAndSingleAddress) {
  auto p = ip_prefix::parse("10.0.0.0/8");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->is_v4());
  EXPECT_EQ(p->to_string(), "10.0.0.0/8");
  EXPECT_TRUE(p->contains(addr("10.255.1.2")));
  EXPECT_FALSE(p->contains(addr("11.0.0.1")));

  auto single = ip_prefix::parse("192.168.1.7");
  ASSERT_TRUE(single);
  EXPECT_EQ(single->to_string(), "192.168.1.7/32");
  EXPECT_TRUE(single->contains(addr("192.168.1.7")));
  EXPECT_FALSE(single->contains(addr("192.168.1.8")));
}

TEST(IpPrefix, Ipv4MappedIpv6AddressesMatchIpv4Prefixes) {
  auto p = ip_prefix::parse("127.0.0.0/8");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->contains(addr("::ffff:127.0.0.1")));
  EXPECT_FALSE(p->contains(addr("::1")));
}

TEST(IpPrefix, ParsesIpv6) {
  auto p = ip_prefix::parse("2001:db8::/32");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->is_v4());
  EXPECT_EQ(p->to_string(), "2001:db8::/32");
  EXPECT_TRUE(p->contains(addr("2001:db8:ffff::1")));
  EXPECT_FALSE(p->contains(addr("2001:db9::1")));
  EXPECT_FALSE(p->contains(addr("10.0.0.1")));
}

TEST(IpPrefix, RejectsBadInputWithReason) {
  std::string error;
  EXPECT_FALSE(ip_prefix::parse("10.0.0.1/8", &error));
  EXPECT_NE(error.find("did you mean '10.0.0.0/8'"), std::string::npos) << error;
  EXPECT_FALSE(ip_prefix::parse("10.0.0.0/33", &error));
  EXPECT_NE(error.find("0..32"), std::string::npos) << error;
  EXPECT_FALSE(ip_prefix::parse("not-an-ip", &error));
  EXPECT_FALSE(ip_prefix::parse("10.0.0.0/", &error));
  EXPECT_FALSE(ip_prefix::parse("10.0.0.0/8x", &error));
  EXPECT_FALSE(ip_prefix::parse("", &error));
}

TEST(IpPrefix, ZeroLengthPrefixMatchesEverythingInItsFamily) {
  auto v4 = ip_prefix::parse("0.0.0.0/0");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->contains(addr("8.8.8.8")));
  EXPECT_FALSE(v4->contains(addr("2001:db8::1")));
  auto v6 = ip_prefix::parse("::/0");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(addr("8.8.8.8")));
  EXPECT_TRUE(v6->contains(addr("2001:db8::1")));
}

TEST(IpPrefixSet, MergesAndLooksUp) {
  std::vector<ip_prefix> prefixes;
  for (const char* t : {"10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16", "172.16.0.0/12", "fd00::/8", "127.0.0.1"}) {
    prefixes.push_back(*ip_prefix::parse(t));
  }
  ip_prefix_set set(prefixes);
  EXPECT_EQ(set.range_count(), 5u);  // 10.1/16 is inside 10/8
  for (const char* in : {"10.0.0.0", "10.255.255.255", "172.31.255.255", "192.168.3.4", "fd12::1", "127.0.0.1"}) {
    EXPECT_TRUE(set.contains(addr(in))) << in;
  }
  for (const char* out : {"9.255.255.255", "11.0.0.0", "172.32.0.0", "127.0.0.2", "fe80::1", "8.8.8.8", "::"}) {
    EXPECT_FALSE(set.contains(addr(out))) << out;
  }
  EXPECT_FALSE(ip_prefix_set{}.contains(addr("10.0.0.1")));
}

TEST(IpPrefixSet, DefaultAllowedIpsAreRfc1918) {
  ip_prefix_set set(rfc1918_prefixes());
  EXPECT_TRUE(set.contains(addr("10.1.2.3")));
  EXPECT_TRUE(set.contains(addr("172.20.0.1")));
  EXPECT_TRUE(set.contains(addr("192.168.0.1")));
  EXPECT_FALSE(set.contains(addr("127.0.0.1")));  // loopback is not private: Anthropic's documented trap
  EXPECT_FALSE(set.contains(addr("100.64.0.1")));
}

}  // namespace
}  // namespace mcpgate::net

namespace mcpgate::net {
namespace {

TEST(Unmapped, Ipv4MappedBecomesIpv4OthersUnchanged) {
  EXPECT_EQ(unmapped(boost::asio::ip::make_address("::ffff:203.0.113.9")).to_string(), "203.0.113.9");
  EXPECT_EQ(unmapped(boost::asio::ip::make_address("2001:db8::1")).to_string(), "2001:db8::1");
  EXPECT_EQ(unmapped(boost::asio::ip::make_address("10.0.0.1")).to_string(), "10.0.0.1");
}

}  // namespace
}  // namespace mcpgate::net
