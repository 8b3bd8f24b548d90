// An upstream that is down must not flood the log: every exchange still gets its 502 and
// its access line, but the warning is written once a second, with a count of the others.
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>

#include "observability/log.hpp"
#include "support/configs.hpp"
#include "support/gateway_harness.hpp"
#include "support/http_test_client.hpp"

namespace mcpgate::test {
namespace {

class kept_lines final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::size_t count_containing(const std::string& part) {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(lines_.begin(), lines_.end(), [&](const std::string& l) { return l.find(part) != std::string::npos; }));
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override { lines_.emplace_back(msg.payload.data(), msg.payload.size()); }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

// Keeps what log::http() writes while it lives.
class http_log_capture {
 public:
  http_log_capture() { log::http().sinks().push_back(kept_); }
  ~http_log_capture() {
    auto& sinks = log::http().sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), kept_), sinks.end());
  }
  kept_lines& lines() { return *kept_; }

 private:
  std::shared_ptr<kept_lines> kept_ = std::make_shared<kept_lines>();
};

TEST(LogThrottle, AnUpstreamThatRefusesConnectionsIsReportedOnceASecond) {
  // Bound, never listening: every connect to it is refused, and no one else can take the port.
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket reserved(io);
  reserved.open(boost::asio::ip::tcp::v4());
  reserved.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto down_port = reserved.local_endpoint().port();

  http_log_capture capture;  // before the gateway starts: its workers read the sink list
  {
    // A route name no other test uses: the throttle is the process's, keyed by route.
    gateway_harness gw(fmt::format(R"(
listeners: [ {{ address: "127.0.0.1:0", mode: plain }} ]
routes:
  throttled.test: "http://127.0.0.1:{}"
upstream:
  allowed_ips: [127.0.0.0/8]
)",
                                   down_port));
    constexpr int requests = 40;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < requests; ++i) {
      http_test_client client;
      client.connect("127.0.0.1", gw.port());
      EXPECT_EQ(client.request(mcp_post("{}", "throttled.test")).result_int(), 502) << i;
    }
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
    gw.shutdown(std::chrono::milliseconds(0));
    const auto warnings = capture.lines().count_containing("upstream unavailable route=throttled.test");
    EXPECT_GE(warnings, 1u);
    // One per started second of the loop (and one for the second it began in).
    EXPECT_LE(warnings, static_cast<std::size_t>(seconds.count()) + 2) << "over " << seconds.count() << " s";
    EXPECT_EQ(capture.lines().count_containing("request started"), static_cast<std::size_t>(requests));
  }
}

}  // namespace
}  // namespace mcpgate::test
