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
