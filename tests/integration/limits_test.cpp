// Every buffer bounded, every wait with a deadline: what the gateway does at the limits.
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <future>

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

std::string tight_limits(std::uint16_t port, const std::string& route_extra = {}) {
  return plain_config(port, route_extra, R"(
limits:
  max_request_header_bytes: 2KiB
  max_request_body_bytes: 1KiB
  request_header_timeout: 300ms
  request_body_timeout: 300ms
  keepalive_timeout: 300ms
)");
}

struct Limits : ::testing::Test {
  std::shared_ptr<recorded_requests> seen = std::make_shared<recorded_requests>();
  fake_upstream upstream{echo_handler(seen)};
};

TEST_F(Limits, BodyOverTheLimitGets413AndNeverReachesTheUpstreamWhole) {
  gateway_harness gw(tight_limits(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  auto res = client.request(mcp_post(std::string(4096, 'x')));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(seen->size(), 0u);
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(Limits, ChunkedBodyOverTheLimitGets413) {
  gateway_harness gw(tight_limits(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  client.send_raw("POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 3; ++i) client.send_raw(chunk(std::string(512, 'y')));
  auto res = client.read_response();
  EXPECT_EQ(res.result_int(), 413);
}

TEST_F(Limits, HeaderOverTheLimitGets431) {
  gateway_harness gw(tight_limits(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  auto req = mcp_post("{}");
  req.set("X-Padding", std::string(4096, 'p'));
  auto res = client.request(req);
  EXPECT_EQ(res.result_int(), 431);
  EXPECT_EQ(seen->size(), 0u);
}

TEST_F(Limits, SlowlorisHeaderIsCutOffAtTheHeaderTimeout) {
  gateway_harness gw(tight_limits(upstream.port()));
  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  const auto start = std::chrono::steady_clock::now();
  client.send_raw("POST /mcp HTTP/1.1\r\nHost: x\r\n");  // never finishes the header
  EXPECT_TRUE(client.wait_closed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(Limits, SlowlorisCrowdIsCutWhileGoodClientsAreServed) {
  gateway_harness gw(tight_limits(upstream.port()));
  // 60 half-open idle connections and 60 that trickle a header byte by byte: all must be
  // cut within the deadlines, and meanwhile ordinary requests go through at once.
  boost::asio::io_context io;
  std::vector<tcp::socket> crowd;
  const tcp::endpoint gateway(boost::asio::ip::make_address("127.0.0.1"), gw.port());
  for (int i = 0; i < 120; ++i) {
    crowd.emplace_back(io);
    crowd.back().connect(gateway);
    if (i % 2 == 1) write_raw(crowd.back(), "POST /mcp HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    http_test_client good(2s);
    good.connect("127.0.0.1", gw.port());
    EXPECT_EQ(good.request(mcp_post("{}")).result_int(), 200);
    for (std::size_t j = 1; j < crowd.size(); j += 2) write_raw(crowd[j], "a");  // keep trickling
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // Every crowd connection is closed by the gateway (header / idle deadline: 300 ms); a
  // receive timeout of our own keeps a gateway that never cuts them from hanging the test.
  const timeval patience{3, 0};
  for (auto& s : crowd) {
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    char byte;
    const auto got = ::recv(s.native_handle(), &byte, 1, 0);
    EXPECT_TRUE(got == 0 || (got < 0 && errno == ECONNRESET)) << "connection still open (recv " << got << ")";
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(seen->size(), 20u);
}

TEST_F(Limits, StalledRequestBodyIsCutOff) {
  gateway_harness gw(tight_limits(upstream.port()));
  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  client.send_raw("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"partial\":");
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(Limits, IdleKeepAliveConnectionIsClosed) {
  gateway_harness gw(tight_limits(upstream.port()));
  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  ASSERT_EQ(client.request(mcp_post("{}")).result_int(), 200);
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(Limits, AmbiguousFramingAndDotSegmentsAreRefused) {
  gateway_harness gw(tight_limits(upstream.port()));
  for (const char* raw : {
           "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "GET /mcp/../admin HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET /mcp/%2e%2e/admin HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET /mcp HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
           "GET /mcp HTTP/1.1\r\n\r\n",
           "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
           "BROKEN\r\n\r\n",
       }) {
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    client.send_raw(raw);
    auto res = client.read_response();
    EXPECT_EQ(res.result_int(), 400) << raw;
  }
  EXPECT_EQ(seen->size(), 0u);
}

TEST_F(Limits, ExpectContinueIsAnsweredByTheGateway) {
  gateway_harness gw(tight_limits(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  client.send_raw("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  auto interim = client.read_response();
  EXPECT_EQ(interim.result_int(), 100);
  client.send_raw("{}");
  auto res = client.read_response();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "echo:{}");
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->at(0).count(http::field::expect), 0u);
}

TEST(UpstreamFailures, ConnectRefusedIs502) {
  std::uint16_t dead_port;
  {
    fake_upstream gone([](tcp::socket&) {});
    dead_port = gone.port();
  }
  gateway_harness gw(plain_config(dead_port));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  EXPECT_EQ(client.request(mcp_post("{}")).result_int(), 502);
}

TEST(UpstreamFailures, SlowResponseHeaderIs504) {
  fake_upstream silent([](tcp::socket& s) {
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::string_body> req;
    if (!read_request(s, buf, req)) return;
    wait_for_close(s);  // never answers
  });
  gateway_harness gw(plain_config(silent.port(), ", response_header_timeout: 300ms"));
  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  EXPECT_EQ(client.request(mcp_post("{}")).result_int(), 504);
}

TEST(UpstreamFailures, StreamIdleTimeoutIsOffForSseByDefaultAndConfigurable) {
  fake_upstream quiet([](tcp::socket& s) {
    if (!answer_with_event_stream(s)) return;
    write_raw(s, chunk("data: hello\n\n"));
    wait_for_close(s);  // quiet until the gateway closes
  });
  {
    // response_header_timeout is short, but it does not apply inside an SSE body.
    gateway_harness gw(plain_config(quiet.port(), ", response_header_timeout: 200ms"));
    http_test_client client(800ms);
    client.connect("127.0.0.1", gw.port());
    client.send(mcp_post("{}"));
    client.read_header();
    ASSERT_TRUE(client.read_sse_event());
    EXPECT_THROW(client.read_sse_event(), boost::system::system_error);  // our own timeout: stream still open
  }
  {
    gateway_harness gw(plain_config(quiet.port(), ", stream_idle_timeout: 200ms"));
    http_test_client client(5s);
    client.connect("127.0.0.1", gw.port());
    client.send(mcp_post("{}"));
    client.read_header();
    ASSERT_TRUE(client.read_sse_event());
    EXPECT_TRUE(client.wait_closed());
  }
}

TEST(UpstreamFailures, UpstreamDyingMidBodyCutsTheClientConnection) {
  fake_upstream dying([](tcp::socket& s) {
    if (!answer_with_event_stream(s)) return;
    write_raw(s, chunk("data: partial\n\n"));
    s.shutdown(tcp::socket::shutdown_both);
  });
  gateway_harness gw(plain_config(dying.port()));
  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  client.send(mcp_post("{}"));
  client.read_header();
  ASSERT_TRUE(client.read_sse_event());
  // No terminating chunk: the client must see an error, not a clean end of stream.
  EXPECT_THROW(client.read_sse_event(), boost::system::system_error);
}

}  // namespace
}  // namespace mcpgate::test
