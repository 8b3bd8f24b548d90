// The sample MCP server over real loopback HTTP, driven by the synchronous test client.
#include "mcp/hello_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "support/http_test_client.hpp"

namespace mcpgate::mcp {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using test::http_test_client;
using clock_type = std::chrono::steady_clock;

class hello_server_test : public ::testing::Test {
 protected:
  void start(hello_server::options opts = default_options()) {
    server_ = std::make_unique<hello_server>(io_, opts);
    port_ = server_->start().port();
    thread_ = std::thread([this] {
      io_.run();
      stopped_.set_value();
    });
  }

  static hello_server::options default_options() {
    hello_server::options opts;
    opts.host = "127.0.0.1";
    opts.port = 0;
    opts.slow_default_steps = 3;
    return opts;
  }

  void TearDown() override {
    if (!server_) return;
    // stop() must end every connection and stream: io.run() then returns by itself.
    server_->stop();
    if (stopped_future_.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "hello_server did not wind down within 5 s of stop()";
      io_.stop();
    }
    thread_.join();
    server_.reset();
  }

  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }

  std::size_t connection_count() {
    std::promise<std::size_t> count;
    boost::asio::post(io_, [&] { count.set_value(server_->connection_count()); });
    return count.get_future().get();
  }

  void connect(http_test_client& client) { client.connect("127.0.0.1", port_); }

  http::request<http::string_body> post(const json::value& body, const std::string& session = {}) {
    auto req = test::make_request(http::verb::post, "/mcp", authority(), json::serialize(body));
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json, text/event-stream");
    if (!session.empty()) {
      req.set("Mcp-Session-Id", session);
      req.set("MCP-Protocol-Version", "2025-11-25");
    }
    return req;
  }

  static json::object rpc(std::int64_t id, std::string_view method, json::value params = json::object{}) {
    return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
  }

  static json::object call(std::int64_t id, std::string_view tool, json::value args,
                           json::value meta = nullptr) {
    json::object params{{"name", tool}, {"arguments", std::move(args)}};
    if (!meta.is_null()) params["_meta"] = std::move(meta);
    return rpc(id, "tools/call", std::move(params));
  }

  static json::object init_request(std::string_view version = "2025-11-25") {
    return rpc(1, "initialize",
               {{"protocolVersion", version},
                {"capabilities", json::object{}},
                {"clientInfo", {{"name", "hello_server_test"}, {"version", "1"}}}});
  }

  // initialize + notifications/initialized; returns the MCP session id.
  std::string initialize(http_test_client& client) {
    auto res = client.request(post(init_request()));
    EXPECT_EQ(res.result(), http::status::ok);
    std::string session(res["Mcp-Session-Id"]);
    EXPECT_EQ(session.size(), 32u);
    auto note = client.request(post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}, session));
    EXPECT_EQ(note.result(), http::status::accepted);
    return session;
  }

  static json::object body_json(const http::response<http::string_body>& res) {
    json::value v = json::parse(res.body());
    return v.as_object();
  }

  static std::int64_t error_code_of(const http::response<http::string_body>& res) {
    return body_json(res).at("error").at("code").to_number<std::int64_t>();
  }

  static std::string first_text(const json::object& result) {
    return std::string(result.at("content").at(0).at("text").as_string());
  }

  boost::asio::io_context io_;
  std::unique_ptr<hello_server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::promise<void> stopped_;
  std::future<void> stopped_future_ = stopped_.get_future();
};

TEST_F(hello_server_test, initialize_creates_session_and_negotiates_version) {
  start();
  http_test_client client;
  connect(client);
  auto res = client.request(post(init_request()));
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  const std::string session(res["Mcp-Session-Id"]);
  ASSERT_EQ(session.size(), 32u);
  EXPECT_EQ(session.find_first_not_of("0123456789abcdef"), std::string::npos);
  const auto body = body_json(res);
  EXPECT_EQ(body.at("id").as_int64(), 1);
  const auto& result = body.at("result").as_object();
  EXPECT_EQ(result.at("protocolVersion").as_string(), "2025-11-25");
  EXPECT_EQ(result.at("serverInfo").at("name").as_string(), "mcpgate-hello");
  EXPECT_EQ(result.at("serverInfo").at("version").as_string(), "0.1.0");
  EXPECT_FALSE(result.at("capabilities").at("tools").at("listChanged").as_bool());
  EXPECT_TRUE(result.at("instructions").is_string());

  // Older revisions we speak are echoed; anything else gets our latest.
  for (auto [asked, answered] : {std::pair{"2025-06-18", "2025-06-18"}, std::pair{"2025-03-26", "2025-03-26"},
                                 std::pair{"2024-11-05", "2025-11-25"}, std::pair{"2099-01-01", "2025-11-25"}}) {
    auto r = client.request(post(init_request(asked)));
    ASSERT_EQ(r.result(), http::status::ok) << asked;
    EXPECT_EQ(body_json(r).at("result").at("protocolVersion").as_string(), answered) << asked;
    EXPECT_NE(r["Mcp-Session-Id"], session);
  }
}

TEST_F(hello_server_test, tools_list_ping_and_unknown_method) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);

  auto res = client.request(post(rpc(2, "tools/list"), session));
  ASSERT_EQ(res.result(), http::status::ok);
  const auto list = body_json(res);
  const auto& tools = list.at("result").at("tools").as_array();
  ASSERT_EQ(tools.size(), 3u);
  std::vector<std::string> names;
  for (const auto& t : tools) {
    names.emplace_back(t.at("name").as_string());
    EXPECT_EQ(t.at("inputSchema").at("type").as_string(), "object");
  }
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "add", "slow"}));
  EXPECT_EQ(tools.at(2).at("inputSchema").at("properties").at("steps").at("default").as_int64(), 3);

  res = client.request(post(rpc(3, "ping"), session));
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(body_json(res).at("result").as_object().empty());

  res = client.request(post(rpc(4, "resources/list"), session));
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(error_code_of(res), -32601);
  EXPECT_EQ(body_json(res).at("id").as_int64(), 4);
}

TEST_F(hello_server_test, echo_handles_256_kib_message) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  std::string message(256 * 1024, 'x');
  for (std::size_t i = 0; i < message.size(); i += 97) message[i] = static_cast<char>('a' + i % 26);
  auto res = client.request(post(call(5, "echo", {{"message", message}}), session));
  ASSERT_EQ(res.result(), http::status::ok);
  const auto body = body_json(res);
  EXPECT_EQ(first_text(body.at("result").as_object()), message);
  EXPECT_FALSE(body.at("result").as_object().contains("isError"));
}

TEST_F(hello_server_test, add_sums_and_reports_bad_arguments_as_tool_errors) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);

  auto res = client.request(post(call(6, "add", {{"a", 2}, {"b", 3}}), session));
  auto result = body_json(res).at("result").as_object();
  EXPECT_EQ(first_text(result), "5");
  EXPECT_EQ(result.at("structuredContent").at("sum").to_number<double>(), 5.0);

  res = client.request(post(call(7, "add", {{"a", 2}, {"b", 0.5}}), session));
  result = body_json(res).at("result").as_object();
  EXPECT_EQ(first_text(result), "2.5");

  // SEP-1303: invalid arguments are a tool execution error the model can read...
  res = client.request(post(call(8, "add", {{"a", "two"}, {"b", 3}}), session));
  ASSERT_EQ(res.result(), http::status::ok);
  result = body_json(res).at("result").as_object();
  EXPECT_TRUE(result.at("isError").as_bool());

  // ...an unknown tool is a protocol error.
  res = client.request(post(call(9, "nope", json::object{}), session));
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(error_code_of(res), -32602);
}

TEST_F(hello_server_test, slow_streams_each_progress_event_as_it_happens_then_the_result) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);

  const auto sent = clock_type::now();
  client.send(post(call(10, "slow", {{"steps", 3}, {"interval_ms", 300}}, {{"progressToken", "tok-1"}}), session));
  const auto& header = client.read_header();
  ASSERT_EQ(header.result(), http::status::ok);
  EXPECT_EQ(header[http::field::content_type], "text/event-stream");
  EXPECT_EQ(header[http::field::transfer_encoding], "chunked");

  std::vector<test::sse_event> progress;
  for (int i = 1; i <= 3; ++i) {
    auto ev = client.read_sse_event();
    ASSERT_TRUE(ev) << "stream ended before progress event " << i;
    EXPECT_EQ(ev->event, "message");
    const auto msg = json::parse(ev->data).as_object();
    ASSERT_EQ(msg.at("method").as_string(), "notifications/progress") << ev->data;
    const auto& params = msg.at("params").as_object();
    EXPECT_EQ(params.at("progressToken").as_string(), "tok-1");
    EXPECT_EQ(params.at("progress").to_number<int>(), i);
    EXPECT_EQ(params.at("total").to_number<int>(), 3);
    progress.push_back(std::move(*ev));
  }
  auto done = client.read_sse_event();
  ASSERT_TRUE(done);
  const auto result = json::parse(done->data).as_object();
  EXPECT_EQ(result.at("id").as_int64(), 10);
  EXPECT_EQ(first_text(result.at("result").as_object()), "done after 3 steps");
  EXPECT_FALSE(client.read_sse_event()) << "the stream must end after the result";

  // Each event reached us when it was sent, not all at once at the end: the first progress
  // goes out at 300 ms, the result at 900 ms. Margins leave room for a loaded machine.
  EXPECT_GE(progress[0].received - sent, 250ms);
  EXPECT_GE(done->received - progress[0].received, 250ms);
  EXPECT_LE(progress[0].received, progress[1].received);
  EXPECT_LE(progress[1].received, progress[2].received);

  // The connection stays usable (keep-alive after a chunked SSE response).
  auto res = client.request(post(rpc(11, "ping"), session));
  EXPECT_EQ(res.result(), http::status::ok);
}

TEST_F(hello_server_test, slow_without_progress_token_sends_only_the_result_and_uses_default_steps) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  client.send(post(call(12, "slow", {{"interval_ms", 1}}), session));
  ASSERT_EQ(client.read_header().result(), http::status::ok);
  auto ev = client.read_sse_event();
  ASSERT_TRUE(ev);
  const auto msg = json::parse(ev->data).as_object();
  EXPECT_EQ(first_text(msg.at("result").as_object()), "done after 3 steps");
  EXPECT_FALSE(client.read_sse_event());

  // Out-of-range arguments are a tool error, answered as plain JSON.
  auto res = client.request(post(call(13, "slow", {{"steps", 101}}), session));
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_TRUE(body_json(res).at("result").at("isError").as_bool());
}

TEST_F(hello_server_test, client_disconnect_during_slow_ends_the_stream_and_server_keeps_serving) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  client.send(post(call(14, "slow", {{"steps", 100}, {"interval_ms", 10'000}}, {{"progressToken", 7}}), session));
  ASSERT_EQ(client.read_header().result(), http::status::ok);
  client.close();  // in the middle of a 10 s wait

  http_test_client other;
  connect(other);
  auto res = other.request(post(rpc(15, "ping"), session));
  EXPECT_EQ(res.result(), http::status::ok);

  // The streaming connection is gone long before its next 10 s tick: only `other` is left.
  const auto deadline = clock_type::now() + 3s;
  while (connection_count() != 1 && clock_type::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(connection_count(), 1u);
}

TEST_F(hello_server_test, cancelled_notification_ends_the_stream_without_a_result) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  client.send(post(call(16, "slow", {{"steps", 100}, {"interval_ms", 50}}, {{"progressToken", "c"}}), session));
  ASSERT_EQ(client.read_header().result(), http::status::ok);
  ASSERT_TRUE(client.read_sse_event());  // it is running

  http_test_client other;
  connect(other);
  auto res = other.request(post({{"jsonrpc", "2.0"},
                                 {"method", "notifications/cancelled"},
                                 {"params", {{"requestId", 16}, {"reason", "test"}}}},
                                session));
  EXPECT_EQ(res.result(), http::status::accepted);

  client.set_timeout(2s);
  while (auto ev = client.read_sse_event())
    EXPECT_FALSE(json::parse(ev->data).as_object().contains("result")) << ev->data;
  // Ended cleanly: the connection is still good.
  EXPECT_EQ(client.request(post(rpc(17, "ping"), session)).result(), http::status::ok);
}

TEST_F(hello_server_test, notifications_and_client_responses_get_202_without_body) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  auto res = client.request(post({{"jsonrpc", "2.0"}, {"method", "notifications/whatever"}}, session));
  EXPECT_EQ(res.result(), http::status::accepted);
  EXPECT_TRUE(res.body().empty());
  res = client.request(post({{"jsonrpc", "2.0"}, {"id", "srv-1"}, {"result", json::object{}}}, session));
  EXPECT_EQ(res.result(), http::status::accepted);
  EXPECT_TRUE(res.body().empty());
}

TEST_F(hello_server_test, session_header_is_required_and_must_be_known) {
  start();
  http_test_client client;
  connect(client);
  initialize(client);

  auto res = client.request(post(rpc(20, "tools/list")));
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(error_code_of(res), -32000);
  EXPECT_TRUE(body_json(res).at("id").is_null());

  res = client.request(post(rpc(21, "tools/list"), std::string(32, '0')));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(error_code_of(res), -32001);

  // A notification needs the session too.
  res = client.request(post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}));
  EXPECT_EQ(res.result(), http::status::bad_request);
}

TEST_F(hello_server_test, unsupported_protocol_version_header_is_rejected) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  auto req = post(rpc(22, "ping"), session);
  req.set("MCP-Protocol-Version", "1999-01-01");
  auto res = client.request(req);
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(error_code_of(res), -32000);
  // Absent means 2025-03-26, which is fine.
  req.erase("MCP-Protocol-Version");
  EXPECT_EQ(client.request(req).result(), http::status::ok);
}

TEST_F(hello_server_test, malformed_bodies_are_rejected) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);

  auto req = post(nullptr, session);
  req.body() = "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ";
  auto res = client.request(req);
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(error_code_of(res), -32700);
  EXPECT_TRUE(body_json(res).at("id").is_null());

  res = client.request(post({{"id", 1}, {"method", "ping"}}, session));  // no "jsonrpc"
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(error_code_of(res), -32600);

  // Batches were removed after 2025-03-26.
  res = client.request(post(json::array{rpc(1, "ping")}, session));
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(error_code_of(res), -32600);

  res = client.request(post(init_request(), session));
  EXPECT_EQ(res.result(), http::status::bad_request) << "second initialize on a session";
  EXPECT_EQ(error_code_of(res), -32600);
}

TEST_F(hello_server_test, batches_work_in_2025_03_26_sessions) {
  start();
  http_test_client client;
  connect(client);
  auto init = client.request(post(init_request("2025-03-26")));
  ASSERT_EQ(body_json(init).at("result").at("protocolVersion").as_string(), "2025-03-26");
  const std::string session(init["Mcp-Session-Id"]);

  json::array batch{json::object{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}},
                    rpc(2, "ping"),
                    call(3, "add", {{"a", 1}, {"b", 2}}),
                    json::object{{"oops", true}},
                    call(4, "slow", json::object{})};
  auto req = post(batch, session);
  req.set("MCP-Protocol-Version", "2025-03-26");
  auto res = client.request(req);
  ASSERT_EQ(res.result(), http::status::ok);
  const auto answers = json::parse(res.body()).as_array();
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_TRUE(answers.at(0).at("result").as_object().empty());
  EXPECT_EQ(answers.at(1).at("result").at("structuredContent").at("sum").to_number<int>(), 3);
  EXPECT_EQ(answers.at(2).at("error").at("code").to_number<int>(), -32600);
  EXPECT_TRUE(answers.at(3).at("result").at("isError").as_bool());

  // Only notifications: 202.
  req = post(json::array{json::object{{"jsonrpc", "2.0"}, {"method", "notifications/x"}}}, session);
  EXPECT_EQ(client.request(req).result(), http::status::accepted);
}

TEST_F(hello_server_test, content_type_and_accept_are_checked) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);

  auto req = post(rpc(23, "ping"), session);
  req.set(http::field::content_type, "text/plain");
  EXPECT_EQ(client.request(req).result(), http::status::unsupported_media_type);

  req = post(rpc(24, "ping"), session);
  req.set(http::field::content_type, "application/json; charset=utf-8");
  EXPECT_EQ(client.request(req).result(), http::status::ok);

  req = post(rpc(25, "ping"), session);
  req.set(http::field::accept, "application/json");
  auto res = client.request(req);
  EXPECT_EQ(res.result(), http::status::not_acceptable);
  EXPECT_EQ(error_code_of(res), -32000);
}

TEST_F(hello_server_test, delete_ends_the_session) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  auto del = test::make_request(http::verb::delete_, "/mcp", authority());
  del.set("Mcp-Session-Id", session);
  EXPECT_EQ(client.request(del).result(), http::status::ok);
  EXPECT_EQ(client.request(del).result(), http::status::not_found);
  auto res = client.request(post(rpc(26, "ping"), session));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(error_code_of(res), -32001);
}

TEST_F(hello_server_test, get_offers_no_stream_and_other_methods_and_paths_are_refused) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);

  auto get = test::make_request(http::verb::get, "/mcp", authority());
  get.set(http::field::accept, "text/event-stream");
  EXPECT_EQ(client.request(get).result(), http::status::bad_request);  // no session
  get.set("Mcp-Session-Id", session);
  EXPECT_EQ(client.request(get).result(), http::status::method_not_allowed);
  get.set(http::field::accept, "application/json");
  EXPECT_EQ(client.request(get).result(), http::status::not_acceptable);

  auto put = test::make_request(http::verb::put, "/mcp", authority(), "{}");
  EXPECT_EQ(client.request(put).result(), http::status::method_not_allowed);

  auto other = post(rpc(27, "ping"), session);
  other.target("/other");
  EXPECT_EQ(client.request(other).result(), http::status::not_found);
}

TEST_F(hello_server_test, origin_and_host_are_validated) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  auto with = [&](std::string_view origin, std::string_view host = {}, std::string_view forwarded = {}) {
    auto req = post(rpc(28, "ping"), session);
    req.set(http::field::origin, origin);
    if (!host.empty()) req.set(http::field::host, host);
    if (!forwarded.empty()) req.set("X-Forwarded-Host", forwarded);
    return client.request(req).result();
  };
  EXPECT_EQ(with("http://evil.example"), http::status::forbidden);
  EXPECT_EQ(with("null"), http::status::forbidden);
  EXPECT_EQ(with("http://localhost:5173"), http::status::ok);
  EXPECT_EQ(with("http://127.0.0.1"), http::status::ok);
  EXPECT_EQ(with("http://[::1]:8080"), http::status::ok);
  EXPECT_EQ(with("http://" + authority()), http::status::ok);  // same as Host
  // Behind the gateway: Host is the upstream authority, the origin the public name.
  EXPECT_EQ(with("https://mcp.example.com", authority(), "mcp.example.com"), http::status::ok);
  EXPECT_EQ(with("https://mcp.example.com", authority(), "other.example.com"), http::status::forbidden);
  // DNS rebinding: Host and Origin agree but name a non-loopback host on a loopback server.
  EXPECT_EQ(with("http://evil.example:" + std::to_string(port_), "evil.example:" + std::to_string(port_)),
            http::status::forbidden);
}

TEST_F(hello_server_test, oversized_body_gets_413) {
  auto opts = default_options();
  opts.max_body_bytes = 1024;
  start(opts);
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  auto res = client.request(post(call(29, "echo", {{"message", std::string(2000, 'y')}}), session));
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(hello_server_test, oldest_session_is_evicted_beyond_the_cap) {
  auto opts = default_options();
  opts.max_sessions = 2;
  start(opts);
  http_test_client client;
  connect(client);
  const auto first = initialize(client);
  const auto second = initialize(client);
  const auto third = initialize(client);
  EXPECT_EQ(client.request(post(rpc(30, "ping"), first)).result(), http::status::not_found);
  EXPECT_EQ(client.request(post(rpc(31, "ping"), second)).result(), http::status::ok);
  EXPECT_EQ(client.request(post(rpc(32, "ping"), third)).result(), http::status::ok);
}

TEST_F(hello_server_test, stop_ends_open_streams_and_idle_connections) {
  start();
  http_test_client idle;
  connect(idle);
  http_test_client streaming;
  connect(streaming);
  const auto session = initialize(streaming);
  streaming.send(post(call(33, "slow", {{"steps", 100}, {"interval_ms", 10'000}}), session));
  ASSERT_EQ(streaming.read_header().result(), http::status::ok);
  server_->stop();
  ASSERT_EQ(stopped_future_.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(streaming.wait_closed());
  EXPECT_TRUE(idle.wait_closed());
}

TEST_F(hello_server_test, delete_ends_the_sessions_open_streams) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  client.send(post(call(34, "slow", {{"steps", 100}, {"interval_ms", 10'000}}), session));
  ASSERT_EQ(client.read_header().result(), http::status::ok);

  http_test_client other;
  connect(other);
  auto del = test::make_request(http::verb::delete_, "/mcp", authority());
  del.set("Mcp-Session-Id", session);
  EXPECT_EQ(other.request(del).result(), http::status::ok);
  client.set_timeout(2s);
  EXPECT_FALSE(client.read_sse_event()) << "the stream ends without a result";
}

TEST_F(hello_server_test, idle_connections_time_out) {
  auto opts = default_options();
  opts.read_timeout = 200ms;
  start(opts);
  http_test_client client;
  connect(client);
  initialize(client);
  const auto idle_since = clock_type::now();
  EXPECT_TRUE(client.wait_closed());
  EXPECT_GE(clock_type::now() - idle_since, 150ms);
}

TEST_F(hello_server_test, pipelined_requests_and_expect_100_continue) {
  start();
  http_test_client client;
  connect(client);
  const auto session = initialize(client);
  std::string ping = json::serialize(rpc(35, "ping"));
  std::string head = "POST /mcp HTTP/1.1\r\nHost: " + authority() +
                     "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                     "Mcp-Session-Id: " + session + "\r\nContent-Length: " + std::to_string(ping.size()) + "\r\n";
  client.send_raw(head + "\r\n" + ping + head + "\r\n" + ping);
  EXPECT_EQ(client.read_response().result(), http::status::ok);
  EXPECT_EQ(client.read_response().result(), http::status::ok);

  client.send_raw(head + "Expect: 100-continue\r\n\r\n");
  EXPECT_EQ(client.read_response().result(), http::status::continue_);
  client.send_raw(ping);
  auto res = client.read_response();
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(body_json(res).at("result").as_object().empty());
}

}  // namespace
}  // namespace mcpgate::mcp
