// Reload and graceful shutdown with traffic in flight.
#include <future>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/http_test_client.hpp"
#include "support/wait.hpp"

namespace mcpgate::test {
namespace {

using namespace std::chrono_literals;

// An upstream that opens an SSE stream, sends one event, then one more event each time
// `next` is signalled, and ends the stream when `end` is signalled.
struct controllable_stream {
  std::mutex mutex;
  std::condition_variable cv;
  int events_to_send = 0;
  bool end = false;

  fake_upstream::handler handler(std::string tag) {
    return [this, tag](tcp::socket& s) {
      boost::beast::flat_buffer buf;
      bhttp::request<bhttp::string_body> req;
      if (!read_request(s, buf, req)) return;
      write_raw(s, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
      write_raw(s, chunk("data: " + tag + "-0\n\n"));
      for (int n = 1;; ++n) {
        std::unique_lock lock(mutex);
        if (!cv.wait_for(lock, 20s, [&] { return events_to_send > 0 || end; })) return;
        if (end && events_to_send == 0) break;
        --events_to_send;
        lock.unlock();
        if (!write_raw(s, chunk(fmt::format("data: {}-{}\n\n", tag, n)))) return;
      }
      write_raw(s, chunk(""));
    };
  }
  void send_one() {
    std::lock_guard lock(mutex);
    ++events_to_send;
    cv.notify_all();
  }
  void finish() {
    std::lock_guard lock(mutex);
    end = true;
    cv.notify_all();
  }
};

TEST(Reload, NewRoutesApplyToNewExchangesWhileLiveStreamsContinue) {
  controllable_stream old_stream;
  fake_upstream old_upstream(old_stream.handler("old"));
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream new_upstream(echo_handler(seen));
  gateway_harness gw(plain_config(old_upstream.port()));

  http_test_client live(10s);
  live.connect("127.0.0.1", gw.port());
  live.send(mcp_post("{}"));
  live.read_header();
  ASSERT_EQ(live.read_sse_event()->data, "old-0");

  std::string error;
  ASSERT_TRUE(gw.reload(plain_config(new_upstream.port()), error)) << error;

  http_test_client fresh;
  fresh.connect("127.0.0.1", gw.port());
  auto res = fresh.request(mcp_post(R"("after-reload")"));
  EXPECT_EQ(res.body(), R"(echo:"after-reload")");

  old_stream.send_one();
  auto event = live.read_sse_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->data, "old-1");  // the stream that began before the reload is intact
  old_stream.finish();
  EXPECT_FALSE(live.read_sse_event());
}

TEST(Reload, InvalidReplacementKeepsTheOldConfig) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(plain_config(upstream.port()));
  const auto before = gw.gateway().snapshot()->generation;
  std::string error;
  // Loads as YAML, but the listener changed address: cannot be applied without a restart.
  EXPECT_FALSE(gw.reload(R"(
listeners: [ { address: "127.0.0.1:1", mode: plain } ]
routes: { "*": "http://127.0.0.1:9" }
upstream: { allowed_ips: [127.0.0.0/8] }
)",
                         error));
  EXPECT_NE(error.find("restart"), std::string::npos) << error;
  EXPECT_EQ(gw.gateway().snapshot()->generation, before);
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  EXPECT_EQ(client.request(mcp_post(R"("still")")).body(), R"(echo:"still")");
}

TEST(Shutdown, InFlightExchangesFinishNewConnectionsAreRefused) {
  controllable_stream stream;
  fake_upstream upstream(stream.handler("s"));
  auto gw = std::make_unique<gateway_harness>(plain_config(upstream.port()));
  const auto port = gw->port();

  http_test_client live(10s);
  live.connect("127.0.0.1", port);
  live.send(mcp_post("{}"));
  live.read_header();
  ASSERT_EQ(live.read_sse_event()->data, "s-0");

  std::thread stopper([&] { gw->shutdown(10s); });
  // Acceptors close first: new connections are refused while the stream goes on.
  EXPECT_TRUE(wait_until([&] {
    try {
      http_test_client probe(200ms);
      probe.connect("127.0.0.1", port);
      return false;
    } catch (const std::exception&) {
      return true;
    }
  }));
  stream.send_one();
  auto event = live.read_sse_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->data, "s-1");
  stream.finish();
  EXPECT_FALSE(live.read_sse_event());
  stopper.join();  // returns once the last exchange is done, well before the 10 s deadline
}

TEST(Shutdown, DeadlineClosesWhatIsLeft) {
  controllable_stream stream;
  fake_upstream upstream(stream.handler("s"));
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client live(10s);
  live.connect("127.0.0.1", gw.port());
  live.send(mcp_post("{}"));
  live.read_header();
  ASSERT_TRUE(live.read_sse_event());
  const auto start = std::chrono::steady_clock::now();
  gw.shutdown(300ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_THROW(live.read_sse_event(), boost::system::system_error);  // cut, not ended cleanly
  stream.finish();
}

TEST(Shutdown, IdleKeepAliveConnectionsCloseAtOnce) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client idle(5s);
  idle.connect("127.0.0.1", gw.port());
  ASSERT_EQ(idle.request(mcp_post("{}")).result_int(), 200);
  const auto start = std::chrono::steady_clock::now();
  gw.shutdown(30s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(idle.wait_closed());
}

}  // namespace
}  // namespace mcpgate::test

namespace mcpgate::test {
namespace {

TEST(Startup, APortAlreadyServedIsAnErrorNotASilentSplit) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness first(plain_config(upstream.port()));
  const auto taken = first.port();
  const auto second_config = fmt::format(R"(
listeners: [ {{ address: "127.0.0.1:{}", mode: plain }} ]
routes: {{ "*": "http://127.0.0.1:{}" }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                         taken, upstream.port());
  try {
    gateway_harness second(second_config);
    FAIL() << "a second gateway bound port " << taken << " next to the first (SO_REUSEPORT)";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("already in use"), std::string::npos) << e.what();
  }
  http_test_client client;
  client.connect("127.0.0.1", taken);
  EXPECT_EQ(client.request(mcp_post(R"("still-first")")).body(), R"(echo:"still-first")");
}

}  // namespace
}  // namespace mcpgate::test
