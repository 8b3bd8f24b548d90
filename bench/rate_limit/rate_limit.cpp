// What a route `rate_limit` costs per request, and what it holds in memory when an
// attacker rotates source addresses:
//   1. churn: 2,000,000 never-seen addresses against max_keys 100,000, reporting tracked
//      keys, the process's resident memory growth (measured first, on a fresh heap), and
//      how many requests the churn got admitted;
//   2. one client, hot bucket (the common case);
//   3. 100,000 distinct clients already tracked, random lookups;
//   4. two threads sharing one limiter (two workers), the cost per request with contention.
//
//   cmake --build build --target rate_limit && build/bench/rate_limit/rate_limit
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "http/rate_limiter.hpp"

using namespace mcpgate;
using clock_type = std::chrono::steady_clock;

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

net::ip_bytes v4(std::uint32_t a) {
  net::ip_bytes b{};
  b[10] = b[11] = 0xff;
  b[12] = static_cast<std::uint8_t>(a >> 24);
  b[13] = static_cast<std::uint8_t>(a >> 16);
  b[14] = static_cast<std::uint8_t>(a >> 8);
  b[15] = static_cast<std::uint8_t>(a);
  return b;
}

config::rate_limit spec(std::uint32_t requests, config::duration per, std::uint32_t burst) {
  config::rate_limit s;
  s.requests = requests;
  s.per = per;
  s.burst = burst;
  s.where = "bench";
  return s;
}

double ns_per(clock_type::time_point start, std::size_t n) {
  return std::chrono::duration<double, std::nano>(clock_type::now() - start).count() / static_cast<double>(n);
}

}  // namespace

int main() {
  using namespace std::chrono_literals;
  {
    const long rss_before = rss_kib();
    auto s = spec(1, 1min, 5);
    s.max_keys = 100'000;
    http::rate_limiter limiter(s);
    std::mt19937 rng(11);
    constexpr std::size_t n = 2'000'000;
    std::size_t admitted = 0;
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < n; ++i) admitted += limiter.take(*limiter.key_for(v4(rng()))).admitted;
    const double ns = ns_per(start, n);
    std::printf("| churn: 2,000,000 new addresses, max_keys 100,000 | %.0f ns per request | tracked %zu | RSS +%ld KiB "
                "(%.0f B per tracked key) | admitted %zu |\n",
                ns, limiter.tracked_keys(), rss_kib() - rss_before,
                1024.0 * static_cast<double>(rss_kib() - rss_before) / static_cast<double>(limiter.tracked_keys()), admitted);
  }
  {
    http::rate_limiter limiter(spec(1'000'000'000, 1s, 1'000'000'000));
    const auto key = *limiter.key_for(v4(0xc6336407));
    constexpr std::size_t n = 2'000'000;
    std::size_t admitted = 0;
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < n; ++i) admitted += limiter.take(key).admitted;
    std::printf("| one client, hot bucket | %.0f ns per request (key + take) | admitted %zu |\n", ns_per(start, n), admitted);
  }
  {
    http::rate_limiter limiter(spec(10, 1s, 20));
    std::mt19937 rng(7);
    std::vector<std::uint32_t> clients(100'000);
    for (auto& c : clients) c = rng();
    for (auto c : clients) limiter.take(*limiter.key_for(v4(c)));
    constexpr std::size_t n = 2'000'000;
    const auto start = clock_type::now();
    std::size_t admitted = 0;
    for (std::size_t i = 0; i < n; ++i) admitted += limiter.take(*limiter.key_for(v4(clients[rng() % clients.size()]))).admitted;
    std::printf("| 100,000 tracked clients, random | %.0f ns per request | tracked %zu |\n", ns_per(start, n),
                limiter.tracked_keys());
  }
  {
    http::rate_limiter limiter(spec(1'000'000'000, 1s, 1'000'000'000));
    constexpr std::size_t per_thread = 1'000'000;
    std::vector<std::thread> threads;
    const auto start = clock_type::now();
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&limiter, t] {
        std::mt19937 rng(static_cast<unsigned>(t));
        for (std::size_t i = 0; i < per_thread; ++i) limiter.take(*limiter.key_for(v4(rng() % 1000)));
      });
    }
    for (auto& th : threads) th.join();
    std::printf("| 2 threads, 1,000 clients, one limiter | %.0f ns wall per request |\n", ns_per(start, 2 * per_thread));
  }
}
