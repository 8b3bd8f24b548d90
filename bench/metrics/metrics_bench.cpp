// What counting for /metrics costs on the data path: requests/s through a gateway with one
// worker whose admin listener counts (admin: {}) against the same build with counting off
// (admin: { metrics: false }), same upstream, same MCP tools/call request, wrk on loopback.
// Runs alternate (off, on, off, on, ...) so the machine's drift hits both alike; the
// median of the pairs' ratios is the result. A scrape of /metrics is timed too.
//
//   cmake --build build --target metrics_bench && MCPGATE_SOURCE_DIR=$PWD build/bench/metrics/metrics_bench [seconds] [pairs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../common/wrk.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "observability/metrics.hpp"
#include "support/http_test_client.hpp"

using namespace mcpgate;
using namespace mcpgate::test;
using mcpgate::bench::wrk_rate;

namespace {

std::string bench_config(std::uint16_t upstream_port, const std::string& admin) {
  return fmt::format(R"(
listeners: [{{ address: "127.0.0.1:0" }}]
workers: 1
routes:
  "*": [{{ path: /mcp, upstream: "http://127.0.0.1:{}" }}]
upstream: {{ allowed_ips: [127.0.0.0/8] }}
log_level: error
admin: {}
)",
                     upstream_port, admin);
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int pairs = argc > 2 ? std::atoi(argv[2]) : 5;
  fake_upstream upstream([](tcp::socket& socket) {
    boost::beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    while (read_request(socket, buffer, req)) {
      if (!write_raw(socket, simple_response(200, R"({"jsonrpc":"2.0","id":1,"result":{}})", "Content-Type: application/json\r\n"))) return;
    }
  });
  gateway_harness counting(bench_config(upstream.port(), "{ listen: 127.0.0.1:0 }"));
  gateway_harness quiet(bench_config(upstream.port(), "{ listen: 127.0.0.1:0, metrics: false }"));

  std::printf("metrics on vs off (1 worker each, wrk -t1 -c16 -d%ds, MCP tools/call, same upstream)\n", seconds);
  std::vector<double> ratios;
  double off_total = 0;
  for (int i = 0; i < pairs; ++i) {
    const double off = wrk_rate(quiet.port(), "/mcp", "", seconds);
    off_total += off;
    const double on = wrk_rate(counting.port(), "/mcp", "", seconds);
    ratios.push_back(on / off);
    std::printf("  pair %d: off %9.0f req/s, on %9.0f req/s: %6.2f%%\n", i + 1, off, on, 100 * on / off);
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("  median of %d pairs: %.2f%% of the throughput without counting\n", pairs, 100 * ratios[ratios.size() / 2]);

  // The same cost without the machine's noise: what counting one exchange takes (an MCP
  // tools/call on a route with a few outcomes already seen), against the CPU time one
  // request costs the worker at the rate measured above.
  observability::worker_metrics metrics;
  observability::access_record record;
  record.route = "files";
  record.status = 200;
  record.mcp_method = "tools/call";
  record.mcp_name = "read_file";
  record.duration = std::chrono::microseconds(850);
  constexpr int calls = 2'000'000;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) {
    record.status = i % 50 == 0 ? 403 : 200;
    record.reason = i % 50 == 0 ? "ip_denied" : "";
    metrics.record_exchange(record, std::chrono::microseconds(400));
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - started).count() / calls;
  const double request_ns = 1e9 / (off_total / pairs);
  std::printf("  record_exchange: %.0f ns per exchange = %.2f%% of the %.1f us one request costs the worker\n", ns,
              100 * ns / request_ns, request_ns / 1000);

  // A scrape after all that traffic: what one Prometheus pull costs the control thread.
  const auto admin = counting.gateway().admin_endpoint()->port();
  constexpr int scrapes = 50;
  std::size_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < scrapes; ++i) {
    http_test_client client;
    client.connect("127.0.0.1", admin);
    bytes = client.request(make_request(bhttp::verb::get, "/metrics", "127.0.0.1")).body().size();
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / scrapes;
  std::printf("  /metrics: %.2f ms per scrape (new connection each), %zu bytes\n", ms, bytes);
  return 0;
}
