// The gateway in-process against scripted upstreams on 127.0.0.1:0.
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

TEST(Proxy, ForwardsRequestAndResponseWithMcpHeadersUnchanged) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen, "Mcp-Session-Id: sess-42\r\nWWW-Authenticate: Bearer realm=\"x\"\r\n"));
  gateway_harness gw(plain_config(upstream.port()));

  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  auto req = mcp_post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", "public.example:443");
  req.target("/mcp?probe=1");
  req.set("Mcp-Session-Id", "sess-42");
  req.set("MCP-Protocol-Version", "2025-11-25");
  req.set("Last-Event-ID", "ev-7");
  req.set("Mcp-Method", "ping");
  req.set("Mcp-Param-Region", "eu");
  req.set("X-Forwarded-For", "1.2.3.4");  // forged: must not reach the upstream
  auto res = client.request(req);

  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), R"(echo:{"jsonrpc":"2.0","id":1,"method":"ping"})");
  EXPECT_EQ(res["Mcp-Session-Id"], "sess-42");
  EXPECT_EQ(res[http::field::www_authenticate], "Bearer realm=\"x\"");

  ASSERT_EQ(seen->size(), 1u);
  auto up = seen->at(0);
  EXPECT_EQ(up.target(), "/mcp?probe=1");
  EXPECT_EQ(up[http::field::host], fmt::format("127.0.0.1:{}", upstream.port()));
  EXPECT_EQ(up["X-Forwarded-Host"], "public.example:443");
  EXPECT_EQ(up["X-Forwarded-For"], "127.0.0.1");
  EXPECT_EQ(up["X-Forwarded-Proto"], "http");
  for (auto name : {"Mcp-Session-Id", "MCP-Protocol-Version", "Last-Event-ID", "Mcp-Method", "Mcp-Param-Region"}) {
    EXPECT_EQ(up[name], req[name]) << name;
  }
}

TEST(Proxy, NoRouteAnswers502WithAnthropicText) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  auto res = client.request(make_request(http::verb::get, "/other", "127.0.0.1"));
  EXPECT_EQ(res.result_int(), 502);
  EXPECT_EQ(res.body(), "No route configured for host\n");
  EXPECT_EQ(seen->size(), 0u);
}

TEST(Proxy, UpstreamOutsideAllowedIpsIsRefusedBeforeConnecting) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  // Default allowed_ips is RFC 1918 only: 127.0.0.1 must be refused.
  gateway_harness gw(fmt::format(R"(
listeners: [ {{ address: "127.0.0.1:0" }} ]
routes:
  "*": "http://127.0.0.1:{}"
  byname: "http://localhost:{}"
)",
                                 upstream.port(), upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  auto res = client.request(mcp_post("{}"));
  EXPECT_EQ(res.result_int(), 502);
  client.connect("127.0.0.1", gw.port());
  res = client.request(mcp_post("{}", "byname"));  // a DNS name resolving to loopback: checked after resolution
  EXPECT_EQ(res.result_int(), 502);
  EXPECT_EQ(upstream.connections_accepted(), 0);
}

TEST(Proxy, Ipv4MappedAndIpv6UpstreamsAreCheckedToo) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream v6(echo_handler(seen), "::1");
  gateway_harness denied(fmt::format(R"(
listeners: [ {{ address: "127.0.0.1:0" }} ]
routes: {{ "*": "http://[::1]:{}" }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                     v6.port()));
  http_test_client client;
  client.connect("127.0.0.1", denied.port());
  EXPECT_EQ(client.request(mcp_post("{}")).result_int(), 502);
  EXPECT_EQ(v6.connections_accepted(), 0);

  gateway_harness allowed(fmt::format(R"(
listeners: [ {{ address: "127.0.0.1:0" }} ]
routes: {{ "*": "http://[::1]:{}" }}
upstream: {{ allowed_ips: ["::1/128"] }}
)",
                                      v6.port()));
  client.connect("127.0.0.1", allowed.port());
  EXPECT_EQ(client.request(mcp_post("{}")).result_int(), 200);
}

TEST(Proxy, DisabledIpValidationAllowsAnyUpstream) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(fmt::format(R"(
listeners: [ {{ address: "127.0.0.1:0" }} ]
routes: {{ "*": "http://127.0.0.1:{}" }}
upstream: {{ disable_ip_validation: true }}
)",
                                 upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  EXPECT_EQ(client.request(mcp_post("{}")).result_int(), 200);
}

TEST(Proxy, SseEventsAreRelayedOneByOneWithoutBuffering) {
  std::promise<void> first_event_seen_by_client;
  auto first_seen = first_event_seen_by_client.get_future().share();
  fake_upstream upstream([first_seen](tcp::socket& s) {
    if (!answer_with_event_stream(s)) return;
    write_raw(s, chunk("id: 1\nevent: message\ndata: {\"progress\":1}\n\n"));
    // The second event is only sent once the client has the first: a buffering proxy
    // would leave the client waiting here until the deadline fails the test.
    if (first_seen.wait_for(10s) != std::future_status::ready) return;
    write_raw(s, chunk(": keepalive\n\nretry: 500\ndata: line1\ndata: line2\n\n"));
    write_raw(s, chunk(""));
  });
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client client(5s);
  client.connect("127.0.0.1", gw.port());
  client.send(mcp_post("{}"));
  auto& header = client.read_header();
  EXPECT_EQ(header[http::field::content_type], "text/event-stream");
  auto first = client.read_sse_event();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, "1");
  EXPECT_EQ(first->event, "message");
  EXPECT_EQ(first->data, "{\"progress\":1}");
  first_event_seen_by_client.set_value();
  auto keepalive = client.read_sse_event();  // a comment-only block is passed through too
  ASSERT_TRUE(keepalive);
  ASSERT_EQ(keepalive->comments.size(), 1u);
  EXPECT_EQ(keepalive->comments[0], " keepalive");
  auto second = client.read_sse_event();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->data, "line1\nline2");
  EXPECT_EQ(second->retry, 500u);
  EXPECT_FALSE(client.read_sse_event());  // end of stream after the terminating chunk
}

// Bodies of non-MCP routes (and non-JSON bodies) are relayed piece by piece as they arrive.
TEST(Proxy, RequestBodyIsStreamedToTheUpstreamAsItArrives) {
  std::promise<std::string> first_piece;
  auto first_piece_future = first_piece.get_future();
  std::promise<void> send_rest;
  auto send_rest_future = send_rest.get_future().share();
  auto whole_body = std::make_shared<std::promise<std::string>>();
  fake_upstream upstream([&first_piece, whole_body](tcp::socket& s) {
    boost::beast::flat_buffer buf;
    bhttp::request_parser<bhttp::buffer_body> parser;
    boost::system::error_code ec;
    bhttp::read_header(s, buf, parser, ec);
    if (ec) return;
    std::string body;
    char data[256];
    bool first = true;
    while (!parser.is_done()) {
      parser.get().body().data = data;
      parser.get().body().size = sizeof data;
      bhttp::read_some(s, buf, parser, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) return;
      const auto got = std::string(data, sizeof data - parser.get().body().size);
      if (got.empty()) continue;
      body += got;
      if (first) {
        first = false;
        first_piece.set_value(got);
      }
    }
    whole_body->set_value(body);
    write_raw(s, simple_response(200, "ok"));
  });
  // Not an MCP route: MCP routes read a JSON body whole to inspect it before forwarding.
  gateway_harness gw(plain_config(upstream.port(), ", mcp: false"));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  client.send_raw("POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n");
  client.send_raw(chunk("{\"part\":1,"));
  ASSERT_EQ(first_piece_future.wait_for(10s), std::future_status::ready) << "first chunk never reached the upstream";
  EXPECT_EQ(first_piece_future.get(), "{\"part\":1,");
  client.send_raw(chunk("\"part\":2}"));
  client.send_raw(chunk(""));
  auto res = client.read_response();
  EXPECT_EQ(res.result_int(), 200);
  auto body_future = whole_body->get_future();
  ASSERT_EQ(body_future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(body_future.get(), "{\"part\":1,\"part\":2}");
}

TEST(Proxy, ClientDisconnectClosesTheUpstreamPromptly) {
  std::promise<void> upstream_saw_close;
  auto closed = upstream_saw_close.get_future();
  fake_upstream upstream([&upstream_saw_close](tcp::socket& s) {
    if (!answer_with_event_stream(s)) return;
    write_raw(s, chunk("data: started\n\n"));
    // A quiet SSE stream: the upstream only learns of the client leaving if the gateway
    // closes this connection.
    if (wait_for_close(s)) upstream_saw_close.set_value();
  });
  gateway_harness gw(plain_config(upstream.port()));
  {
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    client.send(mcp_post("{}"));
    client.read_header();
    ASSERT_TRUE(client.read_sse_event());
    client.close();
  }
  EXPECT_EQ(closed.wait_for(5s), std::future_status::ready);
}

TEST(Proxy, ClientDisconnectWhileWaitingForResponseHeaderClosesTheUpstream) {
  auto probe = std::make_shared<unanswered_request>();
  fake_upstream upstream(never_answer(probe));
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  client.send(mcp_post("{}"));
  ASSERT_EQ(probe->arrived.wait_for(5s), std::future_status::ready);
  client.close();
  EXPECT_EQ(probe->closed.wait_for(5s), std::future_status::ready);
}

TEST(Proxy, KeepAliveReusesOneUpstreamConnection) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  for (int i = 0; i < 5; ++i) {
    auto res = client.request(mcp_post(fmt::format("{{\"n\":{}}}", i)));
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), fmt::format("echo:{{\"n\":{}}}", i));
  }
  EXPECT_EQ(upstream.connections_accepted(), 1);
}

TEST(Proxy, UpstreamClosingIdleConnectionIsNotReusedAndNothingFails) {
  auto closed = std::make_shared<std::promise<void>>();
  auto closed_future = closed->get_future().share();
  fake_upstream upstream([closed](tcp::socket& s) {
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::string_body> req;
    if (!read_request(s, buf, req)) return;
    write_raw(s, simple_response(200, "one-shot"));  // keep-alive advertised, then closed
    s.shutdown(tcp::socket::shutdown_both);
    try {
      closed->set_value();
    } catch (const std::future_error&) {
      // second connection: already signalled
    }
  });
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  ASSERT_EQ(client.request(mcp_post("{}")).result_int(), 200);
  // The pool's promise: a connection whose FIN arrived before it is reused is not reused.
  // (A FIN racing with the next request is the upstream's keep-alive race; see the pool.)
  ASSERT_EQ(closed_future.wait_for(5s), std::future_status::ready);
  auto res = client.request(mcp_post("{}"));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "one-shot");
  EXPECT_EQ(upstream.connections_accepted(), 2);
}

TEST(Proxy, Status202AndErrorBodiesPassThrough) {
  fake_upstream upstream([](tcp::socket& s) {
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::string_body> req;
    while (read_request(s, buf, req)) {
      if (req.body().find("notifications/") != std::string::npos) {
        write_raw(s, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
      } else {
        write_raw(s, simple_response(404, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}})",
                                     "Content-Type: application/json\r\n"));
      }
    }
  });
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  auto accepted = client.request(mcp_post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
  EXPECT_EQ(accepted.result_int(), 202);
  EXPECT_EQ(accepted.body(), "");
  auto missing = client.request(mcp_post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})"));
  EXPECT_EQ(missing.result_int(), 404);
  EXPECT_NE(missing.body().find("-32001"), std::string::npos);
}

TEST(Proxy, LargeBodiesBothWays) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  std::string big(256 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  big.front() = big.back() = '"';  // one JSON string: MCP routes refuse bodies that are not JSON
  auto res = client.request(mcp_post(big));
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "echo:" + big);
}

}  // namespace
}  // namespace mcpgate::test

namespace mcpgate::test {
namespace {

// Exact framing on reused connections: a stray byte after a message would be read as the
// start of the next one (by the upstream, or by the client).
TEST(Framing, ChunkedUploadEndsExactlyOnceOnAReusedUpstreamConnection) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  // Whole body and terminator in one write, then the same in pieces.
  client.send_raw("POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n13\r\n{\"hello\":\"chunked\"}\r\n0\r\n\r\n");
  auto first = client.read_response();
  EXPECT_EQ(first.result_int(), 200);
  EXPECT_EQ(first.body(), "echo:{\"hello\":\"chunked\"}");
  client.send_raw("POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  client.send_raw(chunk("{\"n\":2}"));
  client.send_raw(chunk(""));
  auto second = client.read_response();
  EXPECT_EQ(second.result_int(), 200);
  EXPECT_EQ(second.body(), "echo:{\"n\":2}");
  auto third = client.request(mcp_post("{\"n\":3}"));
  EXPECT_EQ(third.body(), "echo:{\"n\":3}");
  EXPECT_EQ(upstream.connections_accepted(), 1);  // the upstream parsed every message cleanly
  EXPECT_EQ(seen->size(), 3u);
}

TEST(Framing, ChunkedResponseEndsExactlyOnceOnAReusedClientConnection) {
  fake_upstream upstream([](tcp::socket& s) {
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::string_body> req;
    while (read_request(s, buf, req)) {
      write_raw(s, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
      write_raw(s, chunk("data: a\n\n"));
      write_raw(s, chunk(""));  // the terminator in a separate write
    }
  });
  gateway_harness gw(plain_config(upstream.port()));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  for (int i = 0; i < 3; ++i) {
    auto res = client.request(mcp_post("{}"));
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "data: a\n\n");
  }
}

TEST(Framing, EarlyRejectionOfALargeUploadIsReadableByTheClient) {
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream(echo_handler(seen));
  gateway_harness gw(plain_config(upstream.port(), {}, "limits: { max_request_body_bytes: 64KiB }"));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  // Content-Length declared too large, no Expect: the client sends the whole body before
  // it reads; the 413 must survive that (no reset from an early close).
  std::string body(4 * 1024 * 1024, 'z');
  client.send_raw(fmt::format("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.size()));
  client.send_raw(body);
  auto res = client.read_response();
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(seen->size(), 0u);
}

}  // namespace
}  // namespace mcpgate::test
