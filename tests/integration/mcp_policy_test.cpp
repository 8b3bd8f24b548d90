// MCP inspection and tool policy through the gateway: refused calls answered by the gateway
// (never forwarded), dry run, batches, notifications, malformed and spoofed requests, and
// rate limits keyed by tool.
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"

namespace mcpgate::test {
namespace {

std::string call(int id, const std::string& tool) {
  return fmt::format(R"({{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"{}","arguments":{{}}}}}})", id,
                     tool);
}

struct policy_gateway {
  std::shared_ptr<recorded_requests> seen = std::make_shared<recorded_requests>();
  fake_upstream upstream{echo_handler(seen)};
  gateway_harness gw;
  http_test_client client;
  explicit policy_gateway(const std::string& route_extra) : gw(plain_config(upstream.port(), route_extra)) {
    client.connect("127.0.0.1", gw.port());
  }
  http::response<http::string_body> post(const std::string& body) { return client.request(mcp_post(body)); }
};

TEST(McpPolicy, ARefusedToolCallIsAnsweredByTheGatewayAndNeverForwarded) {
  policy_gateway p(R"(, tools: { allow: ["read_*", list_directory], deny: [read_secrets] })");
  EXPECT_EQ(p.post(call(1, "read_file")).body(), "echo:" + call(1, "read_file"));
  const auto refused = p.post(call(7, "write_file"));
  EXPECT_EQ(refused.result_int(), 200);  // a JSON-RPC error, as a server without the tool would answer
  EXPECT_EQ(refused[http::field::content_type], "application/json");
  const auto body = boost::json::parse(refused.body());
  EXPECT_EQ(body.at("id"), 7);
  EXPECT_EQ(body.at("error").at("code"), -32602);
  EXPECT_EQ(body.at("error").at("message"), "Unknown tool: write_file");
  EXPECT_EQ(p.post(call(8, "read_secrets")).body().find("echo:"), std::string::npos);
  EXPECT_EQ(p.post(call(9, "list_directory")).body(), "echo:" + call(9, "list_directory"));
  EXPECT_EQ(p.seen->size(), 2u);
  EXPECT_EQ(p.gw.decisions("routes.*[0].tools.allow").refused, 1u);
  EXPECT_EQ(p.gw.decisions("routes.*[0].tools.deny").refused, 1u);
}

TEST(McpPolicy, DryRunForwardsAndCounts) {
  policy_gateway p(R"(, tools: { deny: ["*"], dry_run: true })");
  EXPECT_EQ(p.post(call(1, "write_file")).body(), "echo:" + call(1, "write_file"));
  EXPECT_EQ(p.gw.decisions("routes.*[0].tools.deny").dry_run, 1u);
  EXPECT_EQ(p.gw.decisions("routes.*[0].tools.deny").refused, 0u);
}

TEST(McpPolicy, ABatchWithOneRefusedCallIsRefusedWholeAndANotificationIsDropped) {
  policy_gateway p(R"(, tools: { allow: [read_file] }, prompts: { deny: ["*"] })");
  const auto batch = p.post("[" + call(1, "read_file") + "," + call(2, "rm") +
                            R"(,{"jsonrpc":"2.0","method":"notifications/progress"}])");
  EXPECT_EQ(batch.result_int(), 200);
  const auto errors = boost::json::parse(batch.body()).as_array();
  ASSERT_EQ(errors.size(), 2u);  // one per request; the notification gets none
  EXPECT_EQ(errors[0].at("id"), 1);
  EXPECT_EQ(errors[0].at("error").at("data").at("reason"), "batch_refused");
  EXPECT_EQ(errors[1].at("id"), 2);
  EXPECT_EQ(errors[1].at("error").at("message"), "Unknown tool: rm");
  // tools/call without an id: a server might still run it, so it is dropped, not forwarded.
  const auto note = p.post(R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":"rm"}})");
  EXPECT_EQ(note.result_int(), 202);
  EXPECT_EQ(note.body(), "");
  const auto prompt = p.post(R"({"jsonrpc":"2.0","id":"p","method":"prompts/get","params":{"name":"x"}})");
  EXPECT_EQ(boost::json::parse(prompt.body()).at("error").at("message"), "Unknown prompt: x");
  EXPECT_EQ(p.seen->size(), 0u);
}

TEST(McpInspection, UnparseableJsonIs32700AndSpoofedRoutingHeadersAre32020) {
  policy_gateway p(R"(, tools: { allow: [read_file] })");
  const auto garbage = p.post(R"({"jsonrpc":"2.0",)");
  EXPECT_EQ(garbage.result_int(), 400);
  EXPECT_EQ(boost::json::parse(garbage.body()).at("error").at("code"), -32700);
  const auto not_jsonrpc = p.post(R"({"hello":"world"})");  // a rule must judge this route's bodies
  EXPECT_EQ(not_jsonrpc.result_int(), 400);
  EXPECT_EQ(boost::json::parse(not_jsonrpc.body()).at("error").at("code"), -32600);
  auto spoof = mcp_post(call(3, "write_file"));
  spoof.set("Mcp-Method", "tools/call");
  spoof.set("Mcp-Name", "read_file");  // what a header-only gateway would have judged
  const auto mismatch = p.client.request(spoof);
  EXPECT_EQ(mismatch.result_int(), 400);
  EXPECT_EQ(boost::json::parse(mismatch.body()).at("error").at("code"), -32020);
  auto honest = mcp_post(call(4, "read_file"));
  honest.set("Mcp-Method", "tools/call");
  honest.set("Mcp-Name", "read_file");
  EXPECT_EQ(p.client.request(honest).result_int(), 200);
  auto text = mcp_post(call(5, "write_file"));
  text.set(http::field::content_type, "text/plain");  // around a body inspector that only reads JSON
  EXPECT_EQ(p.client.request(text).result_int(), 415);
  EXPECT_EQ(p.seen->size(), 1u);
}

TEST(McpInspection, RoutesWithoutRulesPassJsonThatIsNotJsonRpc) {
  policy_gateway p("");  // e.g. an OAuth server's client registration behind the same host
  EXPECT_EQ(p.post(R"({"client_name":"x"})").result_int(), 200);
  auto form = mcp_post("grant_type=client_credentials");
  form.set(http::field::content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(p.client.request(form).result_int(), 200);
  EXPECT_EQ(p.post("{broken").result_int(), 400);  // but unparseable JSON never reaches an MCP server
  EXPECT_EQ(p.seen->size(), 2u);
}

TEST(McpRateLimits, KeyedByToolEachToolHasItsBucketAndOtherMethodsAreNotCounted) {
  policy_gateway p(", rate_limit: { requests: 1, per: 1h, key: [client_ip, tool] }");
  EXPECT_EQ(p.post(call(1, "search")).result_int(), 200);
  EXPECT_EQ(p.post(call(2, "search")).result_int(), 429);
  EXPECT_EQ(p.post(call(3, "fetch")).result_int(), 200);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(p.post(R"({"jsonrpc":"2.0","id":9,"method":"tools/list"})").result_int(), 200) << i;
  }
}

}  // namespace
}  // namespace mcpgate::test

namespace mcpgate::test {
namespace {

// An MCP server's list answers as JSON: three tools, two prompts, two resources.
fake_upstream::handler list_server() {
  return [](tcp::socket& s) {
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::string_body> req;
    while (read_request(s, buf, req)) {
      const auto body = boost::json::parse(req.body());
      const auto id = boost::json::serialize(body.at("id"));
      const std::string method(body.at("method").as_string());
      std::string result = "{}";
      if (method == "tools/list") {
        result = R"({"tools":[{"name":"read_file","inputSchema":{"type":"object"}},{"name":"write_file","inputSchema":{"type":"object"}},{"name":"list_directory","inputSchema":{"type":"object"}}]})";
      } else if (method == "resources/list") {
        result = R"({"resources":[{"uri":"file:///srv/a.txt","name":"a"},{"uri":"file:///etc/passwd","name":"p"}]})";
      }
      write_raw(s, simple_response(200, R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":)" + result + "}",
                                   "Content-Type: application/json\r\n"));
    }
  };
}

std::vector<std::string> names(const std::string& body, const char* list, const char* key) {
  std::vector<std::string> out;
  const auto document = boost::json::parse(body);  // kept alive for the loop
  for (const auto& entry : document.at("result").at(list).as_array()) {
    out.emplace_back(entry.at(key).as_string());
  }
  return out;
}

TEST(McpPolicy, ListsShowOnlyWhatTheRulesAllow) {
  fake_upstream upstream(list_server());
  gateway_harness gw(plain_config(upstream.port(), R"(, tools: { deny: [write_file] }, resources: { allow: ["file:///srv/*"] })"));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  const auto tools = client.request(mcp_post(R"({"jsonrpc":"2.0","id":"t","method":"tools/list"})"));
  EXPECT_EQ(tools.result_int(), 200);
  EXPECT_EQ(names(tools.body(), "tools", "name"), (std::vector<std::string>{"read_file", "list_directory"}));
  EXPECT_EQ(std::stoul(std::string(tools[http::field::content_length])), tools.body().size());
  const auto resources = client.request(mcp_post(R"({"jsonrpc":"2.0","id":2,"method":"resources/list"})"));
  EXPECT_EQ(names(resources.body(), "resources", "uri"), (std::vector<std::string>{"file:///srv/a.txt"}));
  EXPECT_EQ(gw.decisions("routes.*[0].tools.deny").refused, 1u);
  EXPECT_EQ(gw.decisions("routes.*[0].resources.allow").refused, 1u);
  // A list no rule covers is passed through byte for byte.
  const auto prompts = client.request(mcp_post(R"({"jsonrpc":"2.0","id":3,"method":"prompts/list"})"));
  EXPECT_EQ(prompts.body(), R"({"jsonrpc":"2.0","id":3,"result":{}})");
}

TEST(McpPolicy, DryRunListsStayWholeButAreCounted) {
  fake_upstream upstream(list_server());
  gateway_harness gw(plain_config(upstream.port(), R"(, tools: { allow: [read_file], dry_run: true })"));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  const auto tools = client.request(mcp_post(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})"));
  EXPECT_EQ(names(tools.body(), "tools", "name").size(), 3u);
  EXPECT_EQ(gw.decisions("routes.*[0].tools.allow").dry_run, 2u);
}

}  // namespace
}  // namespace mcpgate::test
