// The audit log through the gateway: one line per JSON-RPC request with its outcome, read
// from JSON and SSE answers as they pass, gateway refusals with their code, arguments only
// when asked for and then with secrets redacted; reopened by a reload.
#include <boost/json.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <gtest/gtest.h>

#include "observability/audit.hpp"
#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/test_pki.hpp"
#include "support/wait.hpp"

namespace mcpgate::test {
namespace {

// An MCP server that answers tools/call as JSON, or as an SSE stream (a progress
// notification, then the answer) when the tool is "stream"; tool "fail" gets an error.
fake_upstream::handler tool_server() {
  return [](tcp::socket& s) {
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::string_body> req;
    while (read_request(s, buf, req)) {
      const auto body = boost::json::parse(req.body());
      if (!body.as_object().contains("id")) {
        write_raw(s, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        continue;
      }
      const auto id = boost::json::serialize(body.at("id"));
      const std::string tool(body.at("params").at("name").as_string());
      const std::string answer = tool == "fail"
          ? R"({"jsonrpc":"2.0","id":)" + id + R"(,"error":{"code":-32603,"message":"boom"}})"
          : R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":{"content":[]}})";
      if (tool == "stream") {
        const std::string events = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n"
                                   "event: message\r\ndata: " + answer + "\r\n\r\n";
        write_raw(s, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", events.size(), events));
      } else {
        write_raw(s, simple_response(200, answer, "Content-Type: application/json\r\n"));
      }
    }
  };
}

std::string call(int id, const std::string& tool, const std::string& arguments = "{}") {
  return fmt::format(R"({{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"{}","arguments":{}}}}})", id,
                     tool, arguments);
}

std::vector<boost::json::object> audit_lines(const std::string& path) {
  std::vector<boost::json::object> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(boost::json::parse(line).as_object());
  return out;
}

struct audited_gateway {
  std::string dir = make_temp_dir("mcpgate-audit");
  std::string file = dir + "/audit.log";
  fake_upstream upstream{tool_server()};
  gateway_harness gw;
  http_test_client client;
  audited_gateway(const std::string& route_extra, const std::string& audit_extra)
      : gw(plain_config(upstream.port(), route_extra, "audit: { file: \"" + file + "\"" + audit_extra + " }")) {
    client.connect("127.0.0.1", gw.port());
  }
  ~audited_gateway() { std::filesystem::remove_all(dir); }
  std::vector<boost::json::object> wait_for(std::size_t lines) {
    std::vector<boost::json::object> out;
    EXPECT_TRUE(wait_until([&] { return (out = audit_lines(file)).size() >= lines; })) << "audit lines: " << out.size();
    return out;
  }
};

TEST(Audit, OneLinePerRequestWithTheOutcomeReadFromJsonAndSseAnswers) {
  audited_gateway a(", tools: { deny: [rm] }", "");
  auto req = mcp_post(call(1, "read"));
  req.set("Mcp-Session-Id", "s-1");
  EXPECT_EQ(a.client.request(req).result_int(), 200);
  EXPECT_EQ(a.client.request(mcp_post(call(2, "fail"))).result_int(), 200);
  EXPECT_EQ(a.client.request(mcp_post(call(3, "stream"))).result_int(), 200);
  EXPECT_EQ(a.client.request(mcp_post(call(4, "rm"))).result_int(), 200);
  EXPECT_EQ(a.client.request(mcp_post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})")).result_int(), 202);
  const auto lines = a.wait_for(5);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].at("type"), "audit");
  EXPECT_EQ(lines[0].at("route"), "*[0]");
  EXPECT_EQ(lines[0].at("client"), "127.0.0.1");
  EXPECT_EQ(lines[0].at("session"), "s-1");
  EXPECT_EQ(lines[0].at("method"), "tools/call");
  EXPECT_EQ(lines[0].at("name"), "read");
  EXPECT_EQ(lines[0].at("id"), 1);
  EXPECT_EQ(lines[0].at("outcome"), "result");
  EXPECT_FALSE(lines[0].contains("arguments"));  // not logged unless asked for
  EXPECT_EQ(lines[1].at("outcome"), "error");
  EXPECT_EQ(lines[1].at("error_code"), -32603);
  EXPECT_EQ(lines[2].at("outcome"), "result");  // the answer came as the second SSE event
  EXPECT_EQ(lines[3].at("outcome"), "refused");
  EXPECT_EQ(lines[3].at("reason"), "tool_denied");
  EXPECT_EQ(lines[3].at("error_code"), -32602);
  EXPECT_EQ(lines[4].at("method"), "notifications/initialized");
  EXPECT_TRUE(lines[4].at("id").is_null());
  EXPECT_EQ(lines[4].at("outcome"), "accepted");
}

TEST(Audit, ArgumentsOnlyWhenAskedAndSecretsRedactedAtAnyDepth) {
  audited_gateway a("", ", log_arguments: true, max_argument_bytes: 200");
  EXPECT_EQ(a.client.request(mcp_post(call(1, "login", R"({"user":"ann","Password":"hunter2","nested":{"api_token":"t0k","n":1}})")))
                .result_int(),
            200);
  EXPECT_EQ(a.client.request(mcp_post(call(2, "big", "{\"text\":\"" + std::string(500, 'x') + "\"}"))).result_int(), 200);
  const auto lines = a.wait_for(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(boost::json::serialize(lines[0].at("arguments")),
            R"({"user":"ann","Password":"[redacted]","nested":{"api_token":"[redacted]","n":1}})");
  EXPECT_FALSE(lines[1].contains("arguments"));
  EXPECT_EQ(lines[1].at("arguments_truncated").as_string().size(), 200u);
}

TEST(Audit, AReloadReopensTheFileSoRotationWorks) {
  audited_gateway a("", "");
  EXPECT_EQ(a.client.request(mcp_post(call(1, "read"))).result_int(), 200);
  a.wait_for(1);
  std::filesystem::rename(a.file, a.file + ".1");  // logrotate moves it away ...
  std::string error;
  ASSERT_TRUE(a.gw.reload(plain_config(a.upstream.port(), "", "audit: { file: \"" + a.file + "\" }"), error)) << error;
  EXPECT_EQ(a.client.request(mcp_post(call(2, "read"))).result_int(), 200);  // ... and SIGHUP opens a new one
  const auto fresh = a.wait_for(1);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].at("id"), 2);
  EXPECT_EQ(audit_lines(a.file + ".1").size(), 1u);
}

}  // namespace
}  // namespace mcpgate::test
