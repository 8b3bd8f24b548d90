#include "net/ip_set.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include "config/units.hpp"

namespace mcpgate::net {
namespace {

wall_time at(const char* text) { return *config::parse_timestamp(text); }
ip_bytes addr(const char* text) { return to_bytes(boost::asio::ip::make_address(text)); }

ip_set_entry entry(const char* cidr, std::optional<const char*> from = {}, std::optional<const char*> until = {}) {
  ip_set_entry e{*ip_prefix::parse(cidr), {}, cidr};
  if (from) e.window.from = at(*from);
  if (until) e.window.until = at(*until);
  return e;
}

// Claude's outbound range plus one legacy address that stops matching on 2026-04-01.
timed_ip_set claude() {
  return timed_ip_set({entry("160.79.104.0/21"), entry("34.162.46.92/32", {}, "2026-04-01"),
                       entry("2001:db8::/48", "2026-05-01T12:00:00Z")});
}

TEST(TimedIpSet, EntriesMatchOnlyInsideTheirWindow) {
  const auto set = claude();
  const auto before = set.active_at(at("2026-03-31T23:59:59Z"));
  EXPECT_TRUE(before.contains(addr("34.162.46.92")));
  EXPECT_TRUE(before.contains(addr("::ffff:34.162.46.92")));  // mapped form, as dual-stack sockets report it
  EXPECT_TRUE(before.contains(addr("160.79.111.255")));       // last address of the /21
  EXPECT_FALSE(before.contains(addr("160.79.112.0")));        // first one after it
  EXPECT_FALSE(before.contains(addr("2001:db8::1")));         // not started yet

  const auto after = set.active_at(at("2026-04-01"));  // `until` is exclusive
  EXPECT_FALSE(after.contains(addr("34.162.46.92")));
  EXPECT_TRUE(after.contains(addr("160.79.104.1")));

  const auto v6 = set.active_at(at("2026-05-01T12:00:00Z"));  // `from` is inclusive
  EXPECT_TRUE(v6.contains(addr("2001:db8:0:ffff::1")));
  EXPECT_FALSE(v6.contains(addr("2001:db8:1::1")));
}

TEST(TimedIpSet, NextChangeIsTheNextWindowBoundary) {
  const auto set = claude();
  EXPECT_EQ(set.next_change_after(at("2026-01-01")), at("2026-04-01"));
  EXPECT_EQ(set.next_change_after(at("2026-04-01")), at("2026-05-01T12:00:00Z"));  // strictly after
  EXPECT_EQ(set.next_change_after(at("2026-06-01")), std::nullopt);
  EXPECT_EQ(timed_ip_set({entry("10.0.0.0/8")}).next_change_after(at("2026-01-01")), std::nullopt);
}

TEST(TimedIpSet, MatchesNamesEveryActiveEntryContainingTheAddress) {
  const timed_ip_set set({entry("10.0.0.0/8"), entry("10.1.0.0/16", {}, "2026-01-01"), entry("10.1.2.0/24")});
  const auto found = set.matches(addr("10.1.2.3"), at("2026-02-01"));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0]->origin, "10.0.0.0/8");
  EXPECT_EQ(found[1]->origin, "10.1.2.0/24");
  EXPECT_TRUE(set.matches(addr("192.0.2.1"), at("2026-02-01")).empty());
}

TEST(TimedIpSet, HundredThousandEntriesBuildOnce) {
  std::vector<ip_set_entry> many;
  for (std::uint32_t i = 0; i < 100'000; ++i) {
    const std::string cidr = std::to_string(10 + (i >> 16)) + "." + std::to_string((i >> 8) & 0xff) + "." +
                             std::to_string(i & 0xff) + ".0/24";
    many.push_back({*ip_prefix::parse(cidr), {}, cidr});
  }
  const timed_ip_set set(std::move(many));
  const auto active = set.active_at(at("2026-01-01"));
  EXPECT_TRUE(active.contains(addr("10.0.0.1")));
  EXPECT_TRUE(active.contains(addr("11.134.159.200")));  // entry 99,999 is 11.134.159.0/24
  EXPECT_FALSE(active.contains(addr("11.134.160.1")));
  EXPECT_EQ(active.range_count(), 1u);  // adjacent /24s merge into one range
}

}  // namespace
}  // namespace mcpgate::net
