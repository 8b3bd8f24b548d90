// IP prefixes (CIDRs) and sets of them, IPv4 and IPv6 in one address space.
//
// Every address is held as 16 bytes: IPv4 a.b.c.d is stored as the IPv4-mapped IPv6
// address ::ffff:a.b.c.d, so an IPv4 CIDR and an IPv4-mapped client address compare as
// the same thing (a socket bound to "::" reports IPv4 peers in mapped form).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio::ip {
class address;
}

namespace mcpgate::net {

using ip_bytes = std::array<std::uint8_t, 16>;

// Canonical 16-byte form of an address (IPv4 -> IPv4-mapped IPv6).
ip_bytes to_bytes(const boost::asio::ip::address& address);

// An IPv4-mapped IPv6 address (what a dual-stack socket reports for IPv4 peers) as the
// plain IPv4 address people read in logs; any other address unchanged.
boost::asio::ip::address unmapped(const boost::asio::ip::address& address);

// The network an address belongs to when clients are counted by network: IPv4 addresses
// keep their first `v4_bits` (1..32), IPv6 ones their first `v6_bits` (1..128).
ip_bytes client_network(const ip_bytes& address, unsigned v4_bits, unsigned v6_bits);

class ip_prefix {
 public:
  // Parses "10.0.0.0/8", "2001:db8::/32", or a single address ("192.168.1.7", "::1"),
  // which is a /32 or /128. Host bits below the prefix must be zero ("10.0.0.1/8" is an
  // error: it almost always means a typo). Returns nullopt and sets `error`.
  static std::optional<ip_prefix> parse(std::string_view text, std::string* error = nullptr);

  bool contains(const ip_bytes& address) const;
  bool contains(const boost::asio::ip::address& address) const;

  const ip_bytes& network() const { return network_; }
  // Prefix length in the 128-bit space (an IPv4 /8 is 104 here).
  unsigned bits() const { return bits_; }
  bool is_v4() const;
  // "10.0.0.0/8", "2001:db8::/32": IPv4 prefixes print in IPv4 notation.
  std::string to_string() const;

  friend bool operator==(const ip_prefix&, const ip_prefix&) = default;

 private:
  ip_bytes network_{};
  unsigned bits_ = 0;
};

// A set of prefixes answering "is this address in any of them" in O(log n): prefixes
// become closed [first, last] ranges, sorted and merged once at build time.
class ip_prefix_set {
 public:
  ip_prefix_set() = default;
  explicit ip_prefix_set(const std::vector<ip_prefix>& prefixes);

  bool contains(const ip_bytes& address) const;
  bool contains(const boost::asio::ip::address& address) const;
  bool empty() const { return ranges_.empty(); }
  std::size_t range_count() const { return ranges_.size(); }

 private:
  struct range {
    ip_bytes first;
    ip_bytes last;
  };
  std::vector<range> ranges_;
};

// RFC 1918 private ranges: the default of upstream.allowed_ips (as Anthropic's proxy).
std::vector<ip_prefix> rfc1918_prefixes();
// 127.0.0.0/8 and ::1: the default trusted proxies (a cloudflared next to the gateway).
std::vector<ip_prefix> loopback_prefixes();
// Whether `address` is not a public unicast one (RFC 6890 and friends): loopback, private,
// shared (CGNAT), link-local, multicast, reserved, broadcast, documentation, unique-local,
// IPv4-compatible, 6to4 and Teredo (which may embed any IPv4 address), and IPv4-mapped
// forms of all of these. A NAT64 address (64:ff9b::/96) is judged by the IPv4 address it
// embeds. A fetch the gateway makes on its own (an OAuth issuer's keys) must not land on
// such an address unless the operator says so (SSRF).
bool is_special_purpose(const boost::asio::ip::address& address);

}  // namespace mcpgate::net
