// stdio upstreams through the whole gateway: sessions and processes, id and progress-token
// mapping, server-to-client requests, crashes and restarts, idle reaping, limits, the
// child's environment, shutdown, reload, and the route's tool policy on a stdio server.
// The server is tests/stdio_server/stdio_test_server.cpp (deterministic, names its pid).
#include <pwd.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/configs.hpp"
#include "support/gateway_harness.hpp"
#include "support/http_test_client.hpp"
#include "support/wait.hpp"

namespace mcpgate::test {
namespace {

namespace json = boost::json;

std::string stdio_config(const std::string& extra = {}, const std::string& route_extra = {}) {
  return fmt::format(R"(
listeners:
  - {{ address: "127.0.0.1:0", mode: plain }}
routes:
  "*":
    - path: /mcp
      upstream: {{ command: "{}" {} }}
      {}
workers: 2
)",
                     MCPGATE_STDIO_TEST_SERVER, extra, route_extra);
}

std::string initialize_body(int id = 1) {
  return fmt::format(
      R"({{"jsonrpc":"2.0","id":{},"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{"sampling":{{}}}},"clientInfo":{{"name":"test","version":"1"}}}}}})",
      id);
}

std::string call_body(const std::string& id, const std::string& tool, const std::string& arguments = "{}",
                      const std::string& meta = {}) {
  return fmt::format(R"({{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"{}","arguments":{}{}}}}})", id,
                     tool, arguments, meta.empty() ? std::string() : ",\"_meta\":" + meta);
}

http::request<http::string_body> post(const std::string& body, const std::string& session = {}) {
  auto req = mcp_post(body);
  if (!session.empty()) req.set("Mcp-Session-Id", session);
  return req;
}

// The JSON messages of one SSE answer, read to the end of the stream.
std::vector<json::value> read_messages(http_test_client& client) {
  std::vector<json::value> out;
  while (auto ev = client.read_sse_event()) out.push_back(json::parse(ev->data));
  return out;
}

struct mcp_client {
  http_test_client http;
  std::string session;

  explicit mcp_client(std::uint16_t port) { http.connect("127.0.0.1", port); }

  // initialize + notifications/initialized; returns the initialize answer.
  json::value initialize() {
    http.send(post(initialize_body()));
    const auto& header = http.read_header();
    EXPECT_EQ(header.result_int(), 200);
    session = std::string(header["mcp-session-id"]);
    auto messages = read_messages(http);
    EXPECT_EQ(messages.size(), 1u);
    const auto note = http.request(post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", session));
    EXPECT_EQ(note.result_int(), 202);
    return messages.empty() ? json::value() : messages.back();
  }

  std::vector<json::value> call(const std::string& id, const std::string& tool, const std::string& arguments = "{}",
                                const std::string& meta = {}) {
    http.send(post(call_body(id, tool, arguments, meta), session));
    EXPECT_EQ(http.read_header().result_int(), 200);
    return read_messages(http);
  }

  // The text of the answer to a tools/call (the last message), or the error message.
  std::string call_text(const std::string& id, const std::string& tool, const std::string& arguments = "{}") {
    const auto messages = call(id, tool, arguments);
    if (messages.empty()) return "(no answer)";
    const auto& answer = messages.back().as_object();
    if (const auto* error = answer.if_contains("error")) return "error: " + json::value_to<std::string>(error->at("message"));
    return json::value_to<std::string>(answer.at("result").at("content").at(0).at("text"));
  }
};

std::string pid_of(const std::string& echo_text) { return echo_text.substr(echo_text.rfind("pid=") + 4); }

TEST(Stdio, EachSessionGetsItsOwnProcessAndAnswersKeepTheClientsIds) {
  gateway_harness gw(stdio_config());
  mcp_client a(gw.port()), b(gw.port());
  const auto init = a.initialize();
  EXPECT_EQ(init.at("id"), 1);
  EXPECT_EQ(init.at("result").at("serverInfo").at("name"), "stdio-test-server");
  b.initialize();
  EXPECT_NE(a.session, b.session);
  EXPECT_EQ(gw.gateway().stdio_process_count(), 2u);

  const auto answer_a = a.call("1", "echo", R"({"text":"from a"})");
  const auto answer_b = b.call("1", "echo", R"({"text":"from b"})");
  ASSERT_EQ(answer_a.size(), 1u);
  ASSERT_EQ(answer_b.size(), 1u);
  EXPECT_EQ(answer_a[0].at("id"), 1);  // the client's id, not the bridge's
  const std::string text_a = json::value_to<std::string>(answer_a[0].at("result").at("content").at(0).at("text"));
  const std::string text_b = json::value_to<std::string>(answer_b[0].at("result").at("content").at(0).at("text"));
  EXPECT_EQ(text_a.rfind("from a pid=", 0), 0u) << text_a;
  EXPECT_EQ(text_b.rfind("from b pid=", 0), 0u) << text_b;
  EXPECT_NE(pid_of(text_a), pid_of(text_b));
  EXPECT_EQ(a.call_text("\"s\"", "echo", R"({"text":"string id"})").rfind("string id", 0), 0u);

  const auto deleted = a.http.request([&] {
    auto req = make_request(http::verb::delete_, "/mcp", "127.0.0.1", "");
    req.set("Mcp-Session-Id", a.session);
    return req;
  }());
  EXPECT_EQ(deleted.result_int(), 200);
  EXPECT_TRUE(wait_until([&] { return gw.gateway().stdio_process_count() == 1; }));
  EXPECT_EQ(a.http.request(post(call_body("2", "echo"), a.session)).result_int(), 404);
}

TEST(Stdio, ASharedProcessKeepsSessionsApartEvenWithTheSameIdsAndTokens) {
  gateway_harness gw(stdio_config(", shared: true"));
  mcp_client a(gw.port()), b(gw.port());
  a.initialize();
  const auto second = b.initialize();  // answered from the first session's initialize
  EXPECT_EQ(second.at("result").at("serverInfo").at("name"), "stdio-test-server");
  EXPECT_EQ(gw.gateway().stdio_process_count(), 1u);

  // a's request with id 7 stays open while b uses id 7 too: each answer reaches its sender.
  a.http.send(post(call_body("7", "hang"), a.session));
  EXPECT_EQ(a.http.read_header().result_int(), 200);
  const std::string text_b = b.call_text("7", "echo", R"({"text":"b"})");
  EXPECT_EQ(text_b.rfind("b pid=", 0), 0u) << text_b;

  mcp_client c(gw.port());
  c.session = b.session;
  const auto progress = c.call("3", "progress", "{}", R"({"progressToken":"tok"})");
  ASSERT_EQ(progress.size(), 3u);
  EXPECT_EQ(progress[0].at("method"), "notifications/progress");
  EXPECT_EQ(progress[0].at("params").at("progressToken"), "tok");  // the client's token, put back
  EXPECT_EQ(progress[1].at("params").at("progress"), 2);
  EXPECT_EQ(progress[2].at("id"), 3);
  EXPECT_EQ(pid_of(json::value_to<std::string>(progress[2].at("result").at("content").at(0).at("text"))), pid_of(text_b));
}

TEST(Stdio, AServerRequestReachesTheCallingSessionAndItsAnswerGoesBack) {
  gateway_harness gw(stdio_config());
  mcp_client a(gw.port());
  a.initialize();
  a.http.send(post(call_body("5", "sample"), a.session));
  ASSERT_EQ(a.http.read_header().result_int(), 200);
  auto ask = a.http.read_sse_event();
  ASSERT_TRUE(ask);
  const auto request = json::parse(ask->data);
  EXPECT_EQ(request.at("method"), "sampling/createMessage");

  mcp_client answerer(gw.port());
  answerer.session = a.session;
  const auto reply = answerer.http.request(post(
      json::serialize(json::object{{"jsonrpc", "2.0"},
                                   {"id", request.at("id")},
                                   {"result", json::object{{"role", "assistant"},
                                                           {"content", json::object{{"type", "text"}, {"text", "hello"}}}}}}),
      a.session));
  EXPECT_EQ(reply.result_int(), 202);
  auto answer = a.http.read_sse_event();
  ASSERT_TRUE(answer);
  const auto result = json::parse(answer->data);
  EXPECT_EQ(result.at("id"), 5);
  EXPECT_EQ(result.at("result").at("content").at(0).at("text"), "sampled: hello");
  EXPECT_FALSE(a.http.read_sse_event());  // the stream ends with the answer
}

TEST(Stdio, ACrashAnswersWhatIsInFlightAndTheSessionGoesOnWithANewProcess) {
  gateway_harness gw(stdio_config());
  mcp_client a(gw.port());
  a.initialize();
  const std::string before = pid_of(a.call_text("1", "echo", R"({"text":"x"})"));
  const auto crashed = a.call("2", "crash");
  ASSERT_EQ(crashed.size(), 1u);
  EXPECT_EQ(crashed[0].at("id"), 2);
  EXPECT_EQ(crashed[0].at("error").at("code"), -32603);
  EXPECT_NE(json::value_to<std::string>(crashed[0].at("error").at("message")).find("exit code 3"), std::string::npos);

  // Restarted after ~1 s and initialized again by the bridge: the same session works.
  std::string after;
  EXPECT_TRUE(wait_until(
      [&] {
        after = a.call_text("3", "echo", R"({"text":"again"})");
        return after.rfind("again pid=", 0) == 0;
      },
      std::chrono::seconds(10)))
      << after;
  EXPECT_NE(pid_of(after), before);
  EXPECT_EQ(gw.gateway().stdio_process_count(), 1u);
}

TEST(Stdio, SessionHeadersAreCheckedAndMethodsLimited) {
  gateway_harness gw(stdio_config());
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  const auto missing = client.request(post(call_body("1", "echo")));
  EXPECT_EQ(missing.result_int(), 400);
  EXPECT_NE(missing.body().find("Mcp-Session-Id header is required"), std::string::npos);
  const auto unknown = client.request(post(call_body("1", "echo"), "no-such-session"));
  EXPECT_EQ(unknown.result_int(), 404);  // clients re-initialize on 404
  EXPECT_EQ(json::parse(unknown.body()).at("error").at("code"), -32001);
  const auto put = client.request(make_request(http::verb::put, "/mcp", "127.0.0.1", "{}"));
  EXPECT_EQ(put.result_int(), 405);
  EXPECT_EQ(gw.gateway().stdio_process_count(), 0u);  // nothing was started for any of these
}

TEST(Stdio, IdleSessionsEndAndTheirProcessesStop) {
  gateway_harness gw(stdio_config(", idle_timeout: 300ms"));
  mcp_client a(gw.port());
  a.initialize();
  EXPECT_EQ(gw.gateway().stdio_process_count(), 1u);
  EXPECT_TRUE(wait_until([&] { return gw.gateway().stdio_process_count() == 0; }, std::chrono::seconds(5)));
  EXPECT_EQ(a.http.request(post(call_body("1", "echo"), a.session)).result_int(), 404);
}

TEST(Stdio, TheChildSeesOnlyTheEnvironmentItIsGiven) {
  ::setenv("MCPGATE_TEST_SECRET", "tunnel-token", 1);
  gateway_harness gw(stdio_config(R"(, env: { GREETING: "hi there" }, pass_env: [PATH, MCPGATE_TEST_SECRET], cwd: /tmp)"));
  mcp_client a(gw.port());
  a.initialize();
  EXPECT_EQ(a.call_text("1", "env", R"({"name":"GREETING"})"), "hi there");
  EXPECT_EQ(a.call_text("2", "env", R"({"name":"MCPGATE_TEST_SECRET"})"), "tunnel-token");
  EXPECT_EQ(a.call_text("3", "env", R"({"name":"HOME"})"), "");  // not in pass_env
  EXPECT_EQ(a.call_text("4", "cwd"), "/tmp");

  gateway_harness closed(stdio_config());
  mcp_client b(closed.port());
  b.initialize();
  EXPECT_EQ(b.call_text("1", "env", R"({"name":"MCPGATE_TEST_SECRET"})"), "");  // default: not passed
  ::unsetenv("MCPGATE_TEST_SECRET");
}

TEST(Stdio, TheChildRunsAsTheConfiguredUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching users needs root";
  struct passwd* nobody = ::getpwnam("nobody");
  if (!nobody) GTEST_SKIP() << "no user nobody";
  // The checkout may sit under a directory only root may enter (/root): then nobody
  // cannot start the test server at all, which is not what this test is about.
  for (auto p = std::filesystem::path(MCPGATE_STDIO_TEST_SERVER); p != p.root_path(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !(st.st_mode & S_IXOTH)) GTEST_SKIP() << p << " is not open to other users";
  }
  gateway_harness gw(stdio_config(", user: nobody, cwd: /"));
  mcp_client a(gw.port());
  a.initialize();
  const std::string expected = "uid=" + std::to_string(nobody->pw_uid) + " euid=" + std::to_string(nobody->pw_uid);
  EXPECT_EQ(a.call_text("1", "uid"), expected);
}

TEST(Stdio, AProgramThatCannotStartIs502WithTheReason) {
  gateway_harness gw(R"(
listeners:
  - { address: "127.0.0.1:0", mode: plain }
routes:
  "*":
    - { path: /mcp, upstream: "stdio:/nonexistent/mcp-server --flag" }
)");
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  const auto res = client.request(post(initialize_body()));
  EXPECT_EQ(res.result_int(), 502);
  const auto body = json::parse(res.body());
  EXPECT_NE(json::value_to<std::string>(body.at("error").at("message")).find("/nonexistent/mcp-server"), std::string::npos)
      << res.body();
  EXPECT_EQ(gw.gateway().stdio_process_count(), 0u);
}

TEST(Stdio, AServerThatNeverAnswersInitializeIsGivenUpAfterStartTimeout) {
  gateway_harness gw(R"(
listeners:
  - { address: "127.0.0.1:0", mode: plain }
routes:
  "*":
    - { path: /mcp, upstream: { command: sleep, args: ["30"], start_timeout: 300ms } }
)");
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  client.send(post(initialize_body(4)));
  ASSERT_EQ(client.read_header().result_int(), 200);
  const auto messages = read_messages(client);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].at("id"), 4);
  EXPECT_EQ(messages[0].at("error").at("code"), -32603);
  EXPECT_NE(json::value_to<std::string>(messages[0].at("error").at("message")).find("start_timeout"), std::string::npos);
  EXPECT_TRUE(wait_until([&] { return gw.gateway().stdio_process_count() == 0; }, std::chrono::seconds(5)));
}

TEST(Stdio, MaxProcessesBoundsSessions) {
  gateway_harness gw(stdio_config(", max_processes: 1"));
  mcp_client a(gw.port());
  a.initialize();
  http_test_client other;
  other.connect("127.0.0.1", gw.port());
  const auto refused = other.request(post(initialize_body()));
  EXPECT_EQ(refused.result_int(), 503);
  EXPECT_NE(refused.body().find("max_processes 1"), std::string::npos) << refused.body();
  EXPECT_EQ(gw.gateway().stdio_process_count(), 1u);
}

TEST(Stdio, ServerNotificationsReachTheSessionsGetStreamAndCancellationIsMapped) {
  gateway_harness gw(stdio_config());
  mcp_client a(gw.port());
  a.initialize();
  http_test_client listener;
  listener.connect("127.0.0.1", gw.port());
  auto get = make_request(http::verb::get, "/mcp", "127.0.0.1", "");
  get.set(http::field::accept, "text/event-stream");
  get.set("Mcp-Session-Id", a.session);
  listener.send(get);
  ASSERT_EQ(listener.read_header().result_int(), 200);
  EXPECT_EQ(a.call_text("1", "list_changed"), "sent");
  auto note = listener.read_sse_event();
  ASSERT_TRUE(note);
  EXPECT_EQ(json::parse(note->data).at("method"), "notifications/tools/list_changed");

  // The client cancels its request 42 by its own id; the server hears of the bridge's id.
  mcp_client hanging(gw.port());
  hanging.session = a.session;
  hanging.http.send(post(call_body("42", "hang"), a.session));
  ASSERT_EQ(hanging.http.read_header().result_int(), 200);
  EXPECT_EQ(a.http.request(post(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42}})", a.session))
                .result_int(),
            202);
  EXPECT_EQ(a.http.request(post(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999}})", a.session))
                .result_int(),
            202);  // not in flight: dropped
  const auto cancelled = json::parse(a.call_text("2", "cancelled")).as_array();
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_TRUE(cancelled[0].is_number());
  EXPECT_NE(cancelled[0], 42);
}

TEST(Stdio, TheRoutesToolPolicyAppliesToAStdioServer) {
  gateway_harness gw(stdio_config({}, "tools: { deny: [crash, hang] }"));
  mcp_client a(gw.port());
  a.initialize();
  EXPECT_EQ(a.call_text("1", "echo", R"({"text":"x"})").rfind("x pid=", 0), 0u);
  a.http.send(post(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})", a.session));
  ASSERT_EQ(a.http.read_header().result_int(), 200);
  const auto answer = read_messages(a.http);
  ASSERT_EQ(answer.size(), 1u);
  std::vector<std::string> names;
  for (const auto& tool : answer[0].at("result").at("tools").as_array()) names.push_back(json::value_to<std::string>(tool.at("name")));
  EXPECT_EQ(std::count(names.begin(), names.end(), "crash"), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "hang"), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "echo"), 1);
  const auto refused = a.http.request(post(call_body("3", "crash"), a.session));
  EXPECT_EQ(json::parse(refused.body()).at("error").at("code"), -32602);  // answered by the gateway
  EXPECT_EQ(gw.gateway().stdio_process_count(), 1u);  // and never reached the server
}

TEST(Stdio, ShutdownStopsEveryProcess) {
  gateway_harness gw(stdio_config());
  mcp_client a(gw.port()), b(gw.port());
  a.initialize();
  b.initialize();
  const int pid_a = std::stoi(pid_of(a.call_text("1", "echo", R"({"text":"a"})")));
  const int pid_b = std::stoi(pid_of(b.call_text("1", "echo", R"({"text":"b"})")));
  a.http.close();
  b.http.close();
  gw.shutdown(std::chrono::milliseconds(500));
  EXPECT_EQ(gw.gateway().stdio_process_count(), 0u);
  EXPECT_EQ(::kill(pid_a, 0), -1);  // reaped: no such process
  EXPECT_EQ(::kill(pid_b, 0), -1);
}

TEST(Stdio, AReloadKeepsSessionsUnlessTheServersSettingsChange) {
  gateway_harness gw(stdio_config());
  mcp_client a(gw.port());
  a.initialize();
  const std::string pid = pid_of(a.call_text("1", "echo", R"({"text":"x"})"));
  std::string error;
  ASSERT_TRUE(gw.reload(stdio_config({}, "allowed_origins: [\"https://app.example.com\"]"), error)) << error;
  EXPECT_EQ(pid_of(a.call_text("2", "echo", R"({"text":"y"})")), pid);

  ASSERT_TRUE(gw.reload(stdio_config(", idle_timeout: 1h"), error)) << error;
  EXPECT_TRUE(wait_until([&] { return gw.gateway().stdio_process_count() == 0; }, std::chrono::seconds(5)));
  EXPECT_EQ(a.http.request(post(call_body("3", "echo"), a.session)).result_int(), 404);
}

}  // namespace
}  // namespace mcpgate::test
