// A route mounted under a path prefix with `strip_path: true`: the upstream sees paths
// without the prefix, and the legacy HTTP+SSE transport (2024-11-05) keeps working through
// it: the stream's `endpoint` event is rewritten, every other byte passes as it came, as
// soon as it comes.
#include <future>
#include <mutex>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/http_test_client.hpp"

namespace mcpgate::test {
namespace {

using namespace std::chrono_literals;

std::string prefix_config(std::uint16_t upstream_port, bool strip) {
  return fmt::format(R"(
listeners:
  - {{ address: "127.0.0.1:0", mode: plain }}
routes:
  "*":
    - {{ path: /everything, upstream: "http://127.0.0.1:{}", strip_path: {} }}
upstream:
  allowed_ips: [127.0.0.0/8]
workers: 2
)",
                     upstream_port, strip ? "true" : "false");
}

// What the scripted legacy server saw and when the test lets it go on.
struct legacy_script {
  std::mutex mutex;
  std::vector<std::string> targets;  // request-targets as they reached the upstream
  std::string endpoint_url;          // the endpoint event's data, as the upstream sends it
  std::string endpoint_line_end = "\n";
  // Sent after the endpoint event, in one write: must reach the client byte for byte.
  std::string others =
      ": keep-alive comment\n\n"
      "event: message\r\nid: 41\r\ndata:{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"endpoint\":\"/message\"}}\r\n\r\n"
      "retry: 1500\nunknown-field: kept\ndata: /message?sessionId=not-an-endpoint-event\n\n";
  std::string later = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n";
  std::promise<void> client_has_first_part, client_has_later;
  std::shared_future<void> first_part = client_has_first_part.get_future().share();
  std::shared_future<void> later_seen = client_has_later.get_future().share();

  std::vector<std::string> seen_targets() {
    std::lock_guard lock(this->mutex);
    return targets;
  }
};

// GET: an event stream (endpoint event; the others; after the client has them, one event
// more; after the client has that one too, the end). POST: 202 as the legacy transport
// answers /message.
fake_upstream::handler legacy_server(std::shared_ptr<legacy_script> script) {
  return [script](tcp::socket& s) {
    boost::beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    while (read_request(s, buffer, req)) {
      {
        std::lock_guard lock(script->mutex);
        script->targets.emplace_back(req.target());
      }
      if (req.method() != bhttp::verb::get) {
        if (!write_raw(s, simple_response(202, "Accepted"))) return;
        continue;
      }
      const auto& end = script->endpoint_line_end;
      write_raw(s, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n");
      write_raw(s, chunk("event: endpoint" + end + "data: " + script->endpoint_url + end + end));
      write_raw(s, chunk(script->others));
      if (script->first_part.wait_for(10s) != std::future_status::ready) return;
      write_raw(s, chunk(script->later));
      // A buffering gateway would hold `later` until the stream ends: the client would
      // never signal, and the stream would never end.
      if (script->later_seen.wait_for(10s) != std::future_status::ready) return;
      write_raw(s, chunk(""));  // the connection stays open: the gateway may pool it
    }
  };
}

// Reads body pieces until `out` holds at least `size` bytes (each read under the client's
// timeout, which throws).
void read_at_least(http_test_client& client, std::string& out, std::size_t size) {
  while (out.size() < size) {
    auto piece = client.read_body_some();
    if (!piece) break;
    out += *piece;
  }
}

http::request<http::string_body> sse_get(std::string_view target) {
  auto req = make_request(http::verb::get, target, "gw.example");
  req.set(http::field::accept, "text/event-stream");
  return req;
}

TEST(LegacySsePrefix, PathIsStrippedEndpointRewrittenOtherBytesUnchangedAndUnbuffered) {
  auto script = std::make_shared<legacy_script>();
  script->endpoint_url = "/message?sessionId=9c1e-77";
  fake_upstream upstream(legacy_server(script));
  gateway_harness gw(prefix_config(upstream.port(), true));

  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  client.send(sse_get("/everything/sse?probe=1"));
  const auto& header = client.read_header();
  ASSERT_EQ(header.result_int(), 200);
  EXPECT_EQ(header[http::field::content_type], "text/event-stream");
  EXPECT_EQ(header[http::field::cache_control], "no-cache");

  const std::string first_part = "event: endpoint\ndata: /everything/message?sessionId=9c1e-77\n\n" + script->others;
  std::string body;
  read_at_least(client, body, first_part.size());
  EXPECT_EQ(body, first_part);
  script->client_has_first_part.set_value();

  std::string later;
  read_at_least(client, later, script->later.size());
  EXPECT_EQ(later, script->later);  // arrived while the upstream still holds the stream open
  script->client_has_later.set_value();
  EXPECT_EQ(client.read_body_rest(), "");  // then the end, when the upstream ends it

  // The client posts where the endpoint event said; the upstream sees its own path.
  http_test_client poster(5s);
  poster.connect("127.0.0.1", gw.port());
  auto post = make_request(http::verb::post, "/everything/message?sessionId=9c1e-77", "gw.example",
                           R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  post.set(http::field::content_type, "application/json");
  EXPECT_EQ(poster.request(post).result_int(), 202);
  EXPECT_EQ(script->seen_targets(), (std::vector<std::string>{"/sse?probe=1", "/message?sessionId=9c1e-77"}));
}

TEST(LegacySsePrefix, AbsoluteEndpointOfTheUpstreamBecomesPathAbsolute) {
  auto script = std::make_shared<legacy_script>();
  fake_upstream upstream(legacy_server(script));
  script->endpoint_url = fmt::format("http://127.0.0.1:{}/message?sessionId=abc", upstream.port());
  script->endpoint_line_end = "\r\n";
  gateway_harness gw(prefix_config(upstream.port(), true));

  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  client.send(sse_get("/everything"));
  ASSERT_EQ(client.read_header().result_int(), 200);
  const auto endpoint = client.read_sse_event();
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->event, "endpoint");
  EXPECT_EQ(endpoint->data, "/everything/message?sessionId=abc");
  script->client_has_first_part.set_value();
  script->client_has_later.set_value();
  client.close();
  EXPECT_EQ(script->seen_targets().at(0), "/");
}

TEST(LegacySsePrefix, WithoutStripPathNothingChanges) {
  auto script = std::make_shared<legacy_script>();
  script->endpoint_url = "/message?sessionId=1";
  fake_upstream upstream(legacy_server(script));
  gateway_harness gw(prefix_config(upstream.port(), false));

  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  client.send(sse_get("/everything/sse"));
  ASSERT_EQ(client.read_header().result_int(), 200);
  const std::string first_part = "event: endpoint\ndata: /message?sessionId=1\n\n" + script->others;
  std::string body;
  read_at_least(client, body, first_part.size());
  EXPECT_EQ(body, first_part);
  script->client_has_first_part.set_value();
  script->client_has_later.set_value();
  client.close();
  EXPECT_EQ(script->seen_targets().at(0), "/everything/sse");
}

// An event stream with a Content-Length: rewriting changes its length, so it goes out
// chunked instead.
TEST(LegacySsePrefix, EventStreamWithContentLengthIsSentChunkedWhenRewritten) {
  const std::string stream = "event: endpoint\ndata: /message?sessionId=2\n\ndata: bye\n\n";
  fake_upstream upstream([stream](tcp::socket& s) {
    boost::beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    if (!read_request(s, buffer, req)) return;
    write_raw(s, simple_response(200, stream, "Content-Type: text/event-stream\r\n"));
  });
  gateway_harness gw(prefix_config(upstream.port(), true));
  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  const auto res = client.request(sse_get("/everything/sse"));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::transfer_encoding], "chunked");
  EXPECT_EQ(res.count(http::field::content_length), 0u);
  EXPECT_EQ(res.body(), "event: endpoint\ndata: /everything/message?sessionId=2\n\ndata: bye\n\n");
}

}  // namespace
}  // namespace mcpgate::test
