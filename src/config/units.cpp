#include "config/units.hpp"

#include <cstdio>
#include <array>
#include <cstdint>
#include <limits>
#include <utility>

namespace mcpgate::config {
namespace {

// Go's time.Duration is int64 nanoseconds; staying inside it keeps every value Go accepts
// and nothing Go would refuse as an overflow. __int128 leaves room for the multiplications.
__extension__ using u128 = unsigned __int128;
constexpr u128 max_duration_ns = static_cast<u128>(std::numeric_limits<std::int64_t>::max());

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::optional<std::uint64_t> unit_ns(std::string_view unit) {
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 8> units{{
      {"ns", 1},
      {"us", 1'000},
      {"\xC2\xB5s", 1'000},  // U+00B5 micro sign, as Go accepts
      {"\xCE\xBCs", 1'000},  // U+03BC Greek mu, as Go accepts
      {"ms", 1'000'000},
      {"s", 1'000'000'000},
      {"m", 60'000'000'000},
      {"h", 3'600'000'000'000},
  }};
  for (const auto& [name, ns] : units) {
    if (name == unit) return ns;
  }
  return std::nullopt;
}

template <class T>
std::optional<T> fail(std::string* error, std::string why) {
  if (error) *error = std::move(why);
  return std::nullopt;
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text, std::string* error) {
  std::string_view s = text;
  if (s.empty()) return fail<duration>(error, "empty duration");
  if (s.front() == '-') return fail<duration>(error, "durations must be >= 0");
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return fail<duration>(error, "expected a number");

  bool all_digits = true;
  for (char c : s) all_digits = all_digits && is_digit(c);
  u128 total_ns = 0;
  if (all_digits) {
    // A bare number is seconds (mcp-proxy configs in the wild write `shutdown_timeout: 30`).
    u128 seconds = 0;
    for (char c : s) {
      seconds = seconds * 10 + static_cast<unsigned>(c - '0');
      if (seconds * 1'000'000'000 > max_duration_ns) return fail<duration>(error, "duration too large");
    }
    total_ns = seconds * 1'000'000'000;
  } else {
    while (!s.empty()) {
      std::size_t i = 0;
      bool any_digit = false;
      u128 whole = 0;
      while (i < s.size() && is_digit(s[i])) {
        whole = whole * 10 + static_cast<unsigned>(s[i] - '0');
        if (whole > max_duration_ns) return fail<duration>(error, "duration too large");
        any_digit = true;
        ++i;
      }
      u128 frac = 0;
      u128 scale = 1;
      if (i < s.size() && s[i] == '.') {
        ++i;
        while (i < s.size() && is_digit(s[i])) {
          if (scale < 1'000'000'000'000'000'000ULL) {  // digits past 1e-18 cannot matter
            frac = frac * 10 + static_cast<unsigned>(s[i] - '0');
            scale *= 10;
          }
          any_digit = true;
          ++i;
        }
      }
      if (!any_digit) return fail<duration>(error, "expected a number before \"" + std::string(s) + "\"");
      std::size_t j = i;
      while (j < s.size() && !is_digit(s[j]) && s[j] != '.') ++j;
      const std::string_view unit = s.substr(i, j - i);
      if (unit.empty()) return fail<duration>(error, "missing unit (use ns, us, ms, s, m or h)");
      const auto mult = unit_ns(unit);
      if (!mult) {
        return fail<duration>(error, "unknown unit \"" + std::string(unit) + "\" (use ns, us, ms, s, m or h)");
      }
      total_ns += whole * *mult + frac * *mult / scale;
      if (total_ns > max_duration_ns) return fail<duration>(error, "duration too large");
      s.remove_prefix(j);
    }
  }
  const u128 ms = total_ns / 1'000'000 + (total_ns % 1'000'000 != 0 ? 1 : 0);
  // Rounding up may step past Go's limit; refuse it so that what we print parses again.
  if (ms * 1'000'000 > max_duration_ns) return fail<duration>(error, "duration too large");
  return duration{static_cast<duration::rep>(ms)};
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error) {
  std::string_view s = text;
  if (s.empty()) return fail<std::uint64_t>(error, "empty size");
  if (s.front() == '-') return fail<std::uint64_t>(error, "sizes must be greater than 0");
  std::size_t i = 0;
  std::uint64_t value = 0;
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  while (i < s.size() && is_digit(s[i])) {
    const auto digit = static_cast<std::uint64_t>(s[i] - '0');
    if (value > (max - digit) / 10) return fail<std::uint64_t>(error, "size too large");
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return fail<std::uint64_t>(error, "expected a whole number of bytes, optionally with a unit B, KiB, MiB or GiB");
  std::string_view rest = s.substr(i);
  if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  std::string unit;
  for (char c : rest) unit.push_back(lower(c));
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "kib") mult = std::uint64_t{1} << 10;
  else if (unit == "mib") mult = std::uint64_t{1} << 20;
  else if (unit == "gib") mult = std::uint64_t{1} << 30;
  else return fail<std::uint64_t>(error, "unknown unit \"" + std::string(rest) + "\" (use B, KiB, MiB or GiB)");
  if (value == 0) return fail<std::uint64_t>(error, "sizes must be greater than 0");
  if (value > max / mult) return fail<std::uint64_t>(error, "size too large");
  return value * mult;
}

std::string format_duration(duration d) {
  auto ms = static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count());
  if (ms == 0) return "0s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  const std::uint64_t hours = ms / 3'600'000;
  ms %= 3'600'000;
  const std::uint64_t minutes = ms / 60'000;
  ms %= 60'000;
  const std::uint64_t seconds = ms / 1000;
  ms %= 1000;
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  if (seconds || ms) {
    out += std::to_string(seconds);
    if (ms) {
      std::string frac = std::to_string(ms);
      frac.insert(0, 3 - frac.size(), '0');
      while (frac.back() == '0') frac.pop_back();
      out += "." + frac;
    }
    out += "s";
  }
  return out;
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0B";
  static constexpr std::array<std::pair<const char*, unsigned>, 3> units{{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}}};
  for (const auto& [name, shift] : units) {
    const std::uint64_t unit = std::uint64_t{1} << shift;
    if (bytes % unit == 0) return std::to_string(bytes / unit) + name;
  }
  return std::to_string(bytes) + "B";
}

}  // namespace mcpgate::config

namespace mcpgate::config {

namespace {

// Exactly `n` ASCII digits at `pos`, or nullopt.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_timestamp(std::string_view text, std::string* error) {
  using namespace std::chrono;
  using result = system_clock::time_point;
  const auto bad = [&](const std::string& why) { return fail<result>(error, why + " (expected 2026-04-01 or 2026-04-01T12:00:00Z)"); };
  const auto y = digits(text, 0, 4), mo = digits(text, 5, 2), d = digits(text, 8, 2);
  if (!y || !mo || !d || text.size() < 10 || text[4] != '-' || text[7] != '-') return bad("not a date");
  const year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!date.ok()) return bad("no such day");
  // system_clock counts nanoseconds in 64 bits: it ends in 2262 (found by fuzzing).
  if (*y < 1970 || *y > 2200) return bad("a year outside 1970..2200");
  sys_seconds t = sys_days{date};
  if (text.size() == 10) return result{t};
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return bad("unexpected text after the date");
  const auto h = digits(text, 11, 2), mi = digits(text, 14, 2), sec = digits(text, 17, 2);
  if (!h || !mi || !sec || text.size() < 19 || text[13] != ':' || text[16] != ':') return bad("not a time of day");
  if (*h > 23 || *mi > 59 || *sec > 60) return bad("time of day out of range");
  t += hours{*h} + minutes{*mi} + seconds{std::min(*sec, 59)};
  std::size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return bad("empty fraction of a second");
  }
  if (pos == text.size()) return bad("missing time zone (Z or +hh:mm)");
  if ((text[pos] == 'Z' || text[pos] == 'z') && pos + 1 == text.size()) return result{t};
  if (text[pos] != '+' && text[pos] != '-') return bad("bad time zone");
  const auto oh = digits(text, pos + 1, 2), om = digits(text, pos + 4, 2);
  if (!oh || !om || text.size() != pos + 6 || text[pos + 3] != ':' || *oh > 23 || *om > 59) return bad("bad time zone offset");
  const auto offset = hours{*oh} + minutes{*om};
  const sys_seconds utc = text[pos] == '+' ? t - offset : t + offset;
  if (utc < sys_seconds{}) return bad("a time before 1970");
  return result{utc};
}

std::string format_timestamp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto days = floor<std::chrono::days>(secs);
  const year_month_day date{days};
  const hh_mm_ss tod{secs - days};
  char out[32];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02ld:%02ld:%02lldZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<long>(tod.hours().count()), static_cast<long>(tod.minutes().count()),
                static_cast<long long>(tod.seconds().count()));
  return out;
}

}  // namespace mcpgate::config
