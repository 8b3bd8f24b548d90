#include "net/ip_prefix.hpp"

#include <algorithm>
#include <charconv>

#include <boost/asio/ip/address.hpp>

namespace mcpgate::net {
namespace ip = boost::asio::ip;

namespace {

constexpr unsigned v4_mapped_offset = 96;  // ::ffff:0:0/96

ip_bytes mapped(const ip::address_v4& v4) {
  ip_bytes out{};
  out[10] = 0xff;
  out[11] = 0xff;
  const auto b = v4.to_bytes();
  std::copy(b.begin(), b.end(), out.begin() + 12);
  return out;
}

bool is_mapped_v4(const ip_bytes& b) {
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

// Sets every bit at position >= bits (from the most significant) to `value`.
ip_bytes fill_host_bits(ip_bytes b, unsigned bits, bool value) {
  for (unsigned i = 0; i < 128; ++i) {
    if (i < bits) continue;
    const auto byte = i / 8;
    const auto mask = static_cast<std::uint8_t>(0x80u >> (i % 8));
    if (value) {
      b[byte] = static_cast<std::uint8_t>(b[byte] | mask);
    } else {
      b[byte] = static_cast<std::uint8_t>(b[byte] & ~mask);
    }
  }
  return b;
}

}  // namespace

ip_bytes to_bytes(const ip::address& address) {
  if (address.is_v4()) return mapped(address.to_v4());
  return address.to_v6().to_bytes();
}

ip_bytes client_network(const ip_bytes& address, unsigned v4_bits, unsigned v6_bits) {
  const unsigned bits = is_mapped_v4(address) ? v4_mapped_offset + std::min(v4_bits, 32u) : std::min(v6_bits, 128u);
  return fill_host_bits(address, bits, false);
}

ip::address unmapped(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  }
  return address;
}

std::optional<ip_prefix> ip_prefix::parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<ip_prefix> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  const auto slash = text.find('/');
  const std::string addr_text(text.substr(0, slash));
  boost::system::error_code ec;
  const auto address = ip::make_address(addr_text, ec);
  if (ec) return fail("'" + addr_text + "' is not an IPv4 or IPv6 address");

  const unsigned max_bits = address.is_v4() ? 32 : 128;
  unsigned bits = max_bits;
  if (slash != std::string_view::npos) {
    const auto len_text = text.substr(slash + 1);
    unsigned parsed = 0;
    const auto* end = len_text.data() + len_text.size();
    const auto [ptr, parse_ec] = std::from_chars(len_text.data(), end, parsed);
    if (len_text.empty() || parse_ec != std::errc{} || ptr != end || parsed > max_bits) {
      return fail("prefix length '" + std::string(len_text) + "' must be 0.." + std::to_string(max_bits));
    }
    bits = parsed;
  }

  ip_prefix p;
  p.network_ = to_bytes(address);
  p.bits_ = address.is_v4() ? bits + v4_mapped_offset : bits;
  if (fill_host_bits(p.network_, p.bits_, false) != p.network_) {
    return fail("'" + std::string(text) + "' has host bits set (did you mean '" +
                [&] {
                  ip_prefix fixed = p;
                  fixed.network_ = fill_host_bits(p.network_, p.bits_, false);
                  return fixed.to_string();
                }() +
                "'?)");
  }
  return p;
}

bool ip_prefix::contains(const ip_bytes& address) const {
  return fill_host_bits(address, bits_, false) == network_;
}

bool ip_prefix::contains(const ip::address& address) const { return contains(to_bytes(address)); }

bool ip_prefix::is_v4() const { return bits_ >= v4_mapped_offset && is_mapped_v4(network_); }

std::string ip_prefix::to_string() const {
  if (is_v4()) {
    ip::address_v4::bytes_type b{};
    std::copy(network_.begin() + 12, network_.end(), b.begin());
    return ip::address_v4(b).to_string() + "/" + std::to_string(bits_ - v4_mapped_offset);
  }
  return ip::address_v6(network_).to_string() + "/" + std::to_string(bits_);
}

ip_prefix_set::ip_prefix_set(const std::vector<ip_prefix>& prefixes) {
  ranges_.reserve(prefixes.size());
  for (const auto& p : prefixes) {
    ranges_.push_back({p.network(), fill_host_bits(p.network(), p.bits(), true)});
  }
  std::sort(ranges_.begin(), ranges_.end(), [](const range& a, const range& b) { return a.first < b.first; });
  // Merge overlapping, nested and adjacent ranges so that lookup is one binary search
  // over as few ranges as possible (100,000 consecutive /24s become one range).
  std::vector<range> merged;
  auto touches = [](const ip_bytes& last, const ip_bytes& next_first) {
    if (next_first <= last) return true;
    ip_bytes after = last;  // last + 1, unless last is the very top of the space
    for (int i = 15; i >= 0; --i) {
      if (++after[static_cast<std::size_t>(i)] != 0) return after == next_first;
    }
    return false;
  };
  for (const auto& r : ranges_) {
    if (!merged.empty() && touches(merged.back().last, r.first)) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  ranges_ = std::move(merged);
}

bool ip_prefix_set::contains(const ip_bytes& address) const {
  // First range whose start is > address; the candidate is the one before it.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                             [](const ip_bytes& a, const range& r) { return a < r.first; });
  if (it == ranges_.begin()) return false;
  --it;
  return address <= it->last;
}

bool ip_prefix_set::contains(const ip::address& address) const { return contains(to_bytes(address)); }

namespace {
std::vector<ip_prefix> parse_all(std::initializer_list<const char*> texts) {
  std::vector<ip_prefix> out;
  for (const char* text : texts) out.push_back(*ip_prefix::parse(text));
  return out;
}
}  // namespace

std::vector<ip_prefix> rfc1918_prefixes() { return parse_all({"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}); }
std::vector<ip_prefix> loopback_prefixes() { return parse_all({"127.0.0.0/8", "::1/128"}); }
bool is_special_purpose(const ip::address& address) {
  // IPv4 ranges are stored IPv4-mapped, so "10.0.0.0/8" also covers ::ffff:10.0.0.0/104.
  static const ip_prefix_set special(parse_all(
      {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
       "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
       "224.0.0.0/4", "240.0.0.0/4", "::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
       "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"}));
  // RFC 6052: a NAT64 gateway forwards 64:ff9b::a.b.c.d to a.b.c.d, so that address is the
  // one to judge (an IPv6-only host reaches every public IPv4 issuer this way).
  static const ip_prefix nat64 = *ip_prefix::parse("64:ff9b::/96");
  auto bytes = to_bytes(address);
  if (nat64.contains(bytes)) {
    ip::address_v4::bytes_type v4{};
    std::copy(bytes.begin() + 12, bytes.end(), v4.begin());
    bytes = mapped(ip::address_v4(v4));
  }
  return special.contains(bytes);
}

}  // namespace mcpgate::net
