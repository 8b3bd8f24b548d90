// Cost of one access-rule check as the set grows: 10, 1,000 and 100,000 random CIDRs
// (scattered, so they do not merge into a few ranges), IPv4 and IPv6 addresses, half of
// them inside the set. What a request pays for `allow: [...]` on a listener or route.
//
//   cmake --build build --target ip_lookup && build/bench/ip_lookup/ip_lookup
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "http/access_policy.hpp"

using namespace mcpgate;

int main() {
  std::mt19937_64 rng(42);
  for (const std::size_t n : {10u, 1000u, 100000u}) {
    std::vector<net::ip_set_entry> entries;
    for (std::size_t i = 0; i < n; ++i) {
      const auto a = static_cast<std::uint32_t>(rng());
      const std::string cidr = std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
                               std::to_string((a >> 8) & 0xff) + ".0/24";
      entries.push_back({*net::ip_prefix::parse(cidr), {}, cidr});
    }
    config::config cfg;
    cfg.ip_sets.push_back({"big", entries});
    config::access_rule rule;
    rule.allow.push_back({"big", std::nullopt});
    const auto sets = http::build_ip_sets(cfg);
    const auto build_start = std::chrono::steady_clock::now();
    const auto compiled = http::compile_access_rule(rule, sets, std::chrono::system_clock::now());
    const double build_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - build_start).count();

    std::vector<net::ip_bytes> probes;
    for (std::size_t i = 0; i < 4096; ++i) {
      if (i % 2 == 0) {  // inside: an address of a random entry
        auto b = entries[rng() % n].prefix.network();
        b[15] = static_cast<std::uint8_t>(rng());
        probes.push_back(b);
      } else {
        boost::asio::ip::address_v6::bytes_type v6{};
        for (auto& x : v6) x = static_cast<std::uint8_t>(rng());
        probes.push_back(net::to_bytes(boost::asio::ip::address_v6(v6)));
      }
    }
    constexpr std::size_t rounds = 2000;
    std::size_t allowed = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t r = 0; r < rounds; ++r) {
      for (const auto& p : probes) allowed += compiled.check(p) == http::access_verdict::allowed;
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
                      static_cast<double>(rounds * probes.size());
    std::printf("| %zu CIDRs | %zu ranges | %.1f ns per check | compile %.1f ms | allowed %.0f%% |\n", n,
                compiled.allow.range_count(), ns, build_ms, 100.0 * static_cast<double>(allowed) / static_cast<double>(rounds * probes.size()));
  }
  return 0;
}
