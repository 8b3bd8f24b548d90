#include "config/units.hpp"

#include <gtest/gtest.h>

namespace mcpgate::config {
namespace {

std::int64_t ms(std::string_view text) {
  std::string why;
  auto d = parse_duration(text, &why);
  EXPECT_TRUE(d) << text << ": " << why;
  return d ? d->count() : -1;
}

std::string duration_error(std::string_view text) {
  std::string why;
  EXPECT_FALSE(parse_duration(text, &why)) << text;
  return why;
}

TEST(ConfigUnits, ParsesGoDurations) {
  EXPECT_EQ(ms("30s"), 30'000);
  EXPECT_EQ(ms("1m30s"), 90'000);
  EXPECT_EQ(ms("500ms"), 500);
  EXPECT_EQ(ms("2h"), 7'200'000);
  EXPECT_EQ(ms("1.5h"), 5'400'000);
  EXPECT_EQ(ms("1h2m3s4ms"), 3'723'004);
  EXPECT_EQ(ms(".5s"), 500);
  EXPECT_EQ(ms("0"), 0);
  EXPECT_EQ(ms("0s"), 0);
  EXPECT_EQ(ms("+5s"), 5'000);
  EXPECT_EQ(ms("2000us"), 2);
  EXPECT_EQ(ms("3000000ns"), 3);
  EXPECT_EQ(ms("1000\xC2\xB5s"), 1);
}

TEST(ConfigUnits, BareNumberIsSeconds) {
  EXPECT_EQ(ms("45"), 45'000);
  EXPECT_EQ(ms("300"), 300'000);
}

TEST(ConfigUnits, SubMillisecondRoundsUpNeverToZero) {
  EXPECT_EQ(ms("1ns"), 1);
  EXPECT_EQ(ms("1500us"), 2);
}

TEST(ConfigUnits, RejectsBadDurations) {
  EXPECT_EQ(duration_error(""), "empty duration");
  EXPECT_EQ(duration_error("-1s"), "durations must be >= 0");
  EXPECT_EQ(duration_error("5x"), "unknown unit \"x\" (use ns, us, ms, s, m or h)");
  EXPECT_EQ(duration_error("5 s"), "unknown unit \" s\" (use ns, us, ms, s, m or h)");
  EXPECT_EQ(duration_error("1m30"), "missing unit (use ns, us, ms, s, m or h)");
  EXPECT_EQ(duration_error("s"), "expected a number before \"s\"");
  EXPECT_EQ(duration_error("9999999999h"), "duration too large");
  EXPECT_EQ(duration_error("99999999999999999999"), "duration too large");
}

TEST(ConfigUnits, FormatsDurationsShortestExact) {
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(500ms), "500ms");
  EXPECT_EQ(format_duration(10s), "10s");
  EXPECT_EQ(format_duration(300s), "5m");
  EXPECT_EQ(format_duration(5400s), "1h30m");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(60250ms), "1m0.25s");
  EXPECT_EQ(format_duration(3723004ms), "1h2m3.004s");
}

std::uint64_t bytes(std::string_view text) {
  std::string why;
  auto n = parse_size(text, &why);
  EXPECT_TRUE(n) << text << ": " << why;
  return n ? *n : 0;
}

std::string size_error(std::string_view text) {
  std::string why;
  EXPECT_FALSE(parse_size(text, &why)) << text;
  return why;
}

TEST(ConfigUnits, ParsesSizes) {
  EXPECT_EQ(bytes("512"), 512u);
  EXPECT_EQ(bytes("512B"), 512u);
  EXPECT_EQ(bytes("16KiB"), 16u * 1024);
  EXPECT_EQ(bytes("16 KiB"), 16u * 1024);
  EXPECT_EQ(bytes("4MiB"), 4u * 1024 * 1024);
  EXPECT_EQ(bytes("4mib"), 4u * 1024 * 1024);
  EXPECT_EQ(bytes("1GiB"), 1024u * 1024 * 1024);
}

TEST(ConfigUnits, RejectsBadSizes) {
  EXPECT_EQ(size_error("0"), "sizes must be greater than 0");
  EXPECT_EQ(size_error("0KiB"), "sizes must be greater than 0");
  EXPECT_EQ(size_error("-1"), "sizes must be greater than 0");
  EXPECT_EQ(size_error("16KB"), "unknown unit \"KB\" (use B, KiB, MiB or GiB)");
  EXPECT_EQ(size_error("1.5MiB"), "unknown unit \".5MiB\" (use B, KiB, MiB or GiB)");
  EXPECT_EQ(size_error("MiB"), "expected a whole number of bytes, optionally with a unit B, KiB, MiB or GiB");
  EXPECT_EQ(size_error("99999999999999999999"), "size too large");
  EXPECT_EQ(size_error("17179869184GiB"), "size too large");
}

TEST(ConfigUnits, FormatsSizesInLargestExactUnit) {
  EXPECT_EQ(format_size(16 * 1024), "16KiB");
  EXPECT_EQ(format_size(16 * 1024 * 1024), "16MiB");
  EXPECT_EQ(format_size(std::uint64_t{2} << 30), "2GiB");
  EXPECT_EQ(format_size(1000), "1000B");
  EXPECT_EQ(format_size(1536), "1536B");
}

}  // namespace
}  // namespace mcpgate::config

namespace mcpgate::config {
namespace {

TEST(Timestamps, DatesAndRfc3339TimesAreUtcInstants) {
  using namespace std::chrono;
  const auto day = parse_timestamp("2026-04-01");
  ASSERT_TRUE(day);
  EXPECT_EQ(format_timestamp(*day), "2026-04-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(*parse_timestamp("2026-04-01T12:30:05Z")), "2026-04-01T12:30:05Z");
  EXPECT_EQ(format_timestamp(*parse_timestamp("2026-04-01T14:30:05.250+02:00")), "2026-04-01T12:30:05Z");
  EXPECT_EQ(format_timestamp(*parse_timestamp("2026-03-31T20:00:00-05:00")), "2026-04-01T01:00:00Z");
  EXPECT_EQ(*parse_timestamp("2024-02-29"), sys_days{year{2024} / 2 / 29});
}

TEST(Timestamps, RefusalsSayWhy) {
  std::string why;
  for (const char* bad : {"", "2026-4-01", "2026-02-30", "2026-04-01T25:00:00Z", "2026-04-01T12:00:00",
                          "2026-04-01T12:00:00+0200", "2026-04-01 tomorrow", "2026-04-01T12:00:00.Z", "01/04/2026", "1969-12-31", "2426-04-01"}) {
    why.clear();
    EXPECT_FALSE(parse_timestamp(bad, &why)) << bad;
    EXPECT_NE(why.find("expected 2026-04-01 or 2026-04-01T12:00:00Z"), std::string::npos) << bad << ": " << why;
  }
}

}  // namespace
}  // namespace mcpgate::config
