// Load generator for mcpgate's `ws` listener (Anthropic's tunnel protocol: TLS inside a
// WebSocket) and, for comparison in the same run, its `tls` listener. wrk cannot speak the
// first, so both are driven by this one client to keep the comparison fair.
//
//   tunnel_load --port P --mode ws|tls --host echo.example.test --ca ca.crt
//               [--conns 64] [--seconds 10] [--idle N]
//
// Throughput mode: `conns` keep-alive connections each send small MCP-shaped JSON POSTs
// back to back for `seconds`; prints one JSON line {requests, rps, p50_ms, p99_ms, errors}.
// Idle mode (--idle N): opens N connections, completes one request on each, prints
// "ready", then holds them until stdin closes (bench/run measures the gateway's RSS).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "net/stream.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using clock_type = std::chrono::steady_clock;

struct options {
  std::uint16_t port = 0;
  std::string mode = "ws";
  std::string host;
  std::string ca;
  int conns = 64;
  int seconds = 10;
  int idle = 0;
};

struct totals {
  std::vector<double> latencies_ms;
  long errors = 0;
};

asio::awaitable<std::unique_ptr<mcpgate::net::maybe_tls_stream>> open(const options& o, asio::ssl::context& ctx) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream tcp(ex);
  co_await tcp.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), o.port), asio::use_awaitable);
  tcp.socket().set_option(asio::ip::tcp::no_delay(true));
  std::unique_ptr<mcpgate::net::maybe_tls_stream> s;
  if (o.mode == "ws") {
    s = std::make_unique<mcpgate::net::maybe_tls_stream>(std::move(tcp), ctx,
                                                          std::in_place_type<mcpgate::net::websocket_bytes>);
    s->ws().set_option(beast::websocket::stream_base::decorator(
        [](beast::websocket::request_type& req) { req.set("Cf-Connecting-Ip", "160.79.104.10"); }));
    co_await s->ws().async_handshake("127.0.0.1", "/", asio::use_awaitable);
  } else {
    s = std::make_unique<mcpgate::net::maybe_tls_stream>(std::move(tcp), ctx);
  }
  s->set_client_identity(o.host);
  co_await s->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  co_return s;
}

asio::awaitable<void> one_request(mcpgate::net::maybe_tls_stream& s, beast::flat_buffer& buf, const options& o) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/mcp", 11};
  req.set(bhttp::field::host, o.host);
  req.set(bhttp::field::content_type, "application/json");
  req.set(bhttp::field::accept, "application/json, text/event-stream");
  req.body() = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}})";
  req.prepare_payload();
  co_await bhttp::async_write(s, req, asio::use_awaitable);
  bhttp::response<bhttp::string_body> res;
  co_await bhttp::async_read(s, buf, res, asio::use_awaitable);
  if (res.result_int() != 200) throw std::runtime_error("status " + std::to_string(res.result_int()));
}

asio::awaitable<void> worker(const options& o, asio::ssl::context& ctx, clock_type::time_point end, totals& t) {
  try {
    auto s = co_await open(o, ctx);
    beast::flat_buffer buf;
    while (clock_type::now() < end) {
      const auto start = clock_type::now();
      co_await one_request(*s, buf, o);
      t.latencies_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
    }
  } catch (const std::exception& e) {
    if (++t.errors == 1) std::fprintf(stderr, "tunnel_load: %s\n", e.what());
  }
}

asio::awaitable<void> hold(const options& o, asio::ssl::context& ctx,
                           std::vector<std::unique_ptr<mcpgate::net::maybe_tls_stream>>& held, int& ready) {
  auto s = co_await open(o, ctx);
  beast::flat_buffer buf;
  co_await one_request(*s, buf, o);
  held.push_back(std::move(s));
  ++ready;
}

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") o.port = static_cast<std::uint16_t>(std::stoi(v));
    else if (k == "--mode") o.mode = v;
    else if (k == "--host") o.host = v;
    else if (k == "--ca") o.ca = v;
    else if (k == "--conns") o.conns = std::stoi(v);
    else if (k == "--seconds") o.seconds = std::stoi(v);
    else if (k == "--idle") o.idle = std::stoi(v);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(o.ca);
  ctx.set_verify_mode(asio::ssl::verify_peer);

  if (o.idle > 0) {
    std::vector<std::unique_ptr<mcpgate::net::maybe_tls_stream>> held;
    int ready = 0;
    for (int i = 0; i < o.idle; ++i) {
      asio::co_spawn(io, hold(o, ctx, held, ready), [](std::exception_ptr e) {
        if (!e) return;
        try { std::rethrow_exception(e); } catch (const std::exception& x) { std::fprintf(stderr, "tunnel_load: %s\n", x.what()); }
      });
      if (i % 100 == 99) io.run_for(std::chrono::milliseconds(50));  // bounded concurrency of handshakes
    }
    while (ready < o.idle && io.run_one_for(std::chrono::seconds(30))) {
    }
    std::printf("ready %d\n", ready);
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    return ready == o.idle ? 0 : 1;
  }

  totals t;
  const auto end = clock_type::now() + std::chrono::seconds(o.seconds);
  for (int i = 0; i < o.conns; ++i) asio::co_spawn(io, worker(o, ctx, end, t), asio::detached);
  const auto started = clock_type::now();
  io.run();
  const double elapsed = std::chrono::duration<double>(clock_type::now() - started).count();
  auto& l = t.latencies_ms;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) { return l.empty() ? 0.0 : l[std::min(l.size() - 1, static_cast<std::size_t>(p * l.size()))]; };
  std::printf("{\"mode\":\"%s\",\"conns\":%d,\"requests\":%zu,\"rps\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%ld}\n",
              o.mode.c_str(), o.conns, l.size(), static_cast<double>(l.size()) / elapsed, pct(0.50), pct(0.99), t.errors);
  return t.errors == 0 ? 0 : 1;
}
