// The JSON-RPC inspector of MCP routes and the tools / prompts / resources rules.
#include "mcp/jsonrpc.hpp"

#include <gtest/gtest.h>

#include "mcp/policy.hpp"

namespace mcpgate::mcp {
namespace {

TEST(JsonRpcInspector, ReadsMethodIdAndWhatTheCallNames) {
  const auto call = inspect_request(
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/x"}}})");
  ASSERT_TRUE(call.ok()) << call.error;
  ASSERT_EQ(call.messages.size(), 1u);
  EXPECT_FALSE(call.batch);
  EXPECT_EQ(call.messages[0].kind, message_kind::request);
  EXPECT_EQ(call.messages[0].method, "tools/call");
  EXPECT_EQ(call.messages[0].id, "7");
  EXPECT_EQ(call.messages[0].name, "write_file");

  const auto read = inspect_request(R"({"jsonrpc":"2.0","id":"r-1","method":"resources/read","params":{"uri":"file:///etc/passwd"}})");
  EXPECT_EQ(read.messages[0].id, R"("r-1")");
  EXPECT_EQ(read.messages[0].name, "file:///etc/passwd");

  const auto note = inspect_request(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  EXPECT_EQ(note.messages[0].kind, message_kind::notification);
  EXPECT_EQ(note.messages[0].id, "");

  const auto answer = inspect_request(R"({"jsonrpc":"2.0","id":3,"result":{"roots":[]}})");
  EXPECT_EQ(answer.messages[0].kind, message_kind::response);

  const auto stateless = inspect_request(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})");
  EXPECT_EQ(stateless.messages[0].meta_protocol_version, "2026-07-28");
  EXPECT_EQ(stateless.messages[0].name, "");  // tools/list names nothing
}

TEST(JsonRpcInspector, BatchesAreReadMessageByMessage) {
  const auto batch = inspect_request(R"([{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},
                                         {"jsonrpc":"2.0","method":"notifications/progress"}])");
  ASSERT_TRUE(batch.ok()) << batch.error;
  EXPECT_TRUE(batch.batch);
  ASSERT_EQ(batch.messages.size(), 2u);
  EXPECT_EQ(batch.messages[1].kind, message_kind::notification);
}

TEST(JsonRpcInspector, WhatIsNotJsonRpcSaysWhy) {
  EXPECT_EQ(inspect_request("{\"jsonrpc\":").error_code, parse_error);
  EXPECT_EQ(inspect_request("").error_code, parse_error);
  EXPECT_EQ(inspect_request("{} trailing").error_code, parse_error);
  const auto deep = std::string(100, '[') + std::string(100, ']');
  EXPECT_EQ(inspect_request(deep).error_code, parse_error);  // nesting beyond the bound
  EXPECT_EQ(inspect_request("{}").error_code, invalid_request);
  EXPECT_EQ(inspect_request("[]").error_code, invalid_request);
  EXPECT_EQ(inspect_request("\"text\"").error_code, invalid_request);
  EXPECT_EQ(inspect_request(R"({"jsonrpc":"1.0","id":1,"method":"x"})").error_code, invalid_request);
  EXPECT_EQ(inspect_request(R"({"jsonrpc":"2.0","id":{},"method":"x"})").error_code, invalid_request);
  EXPECT_EQ(inspect_request(R"({"jsonrpc":"2.0","id":1,"method":7})").error_code, invalid_request);
  EXPECT_EQ(inspect_request(R"({"jsonrpc":"2.0","id":1})").error_code, invalid_request);
  EXPECT_EQ(inspect_request(R"([{"jsonrpc":"2.0","id":1,"method":"a"}, 5])").error_code, invalid_request);
  EXPECT_NE(inspect_request("{}").error.find("jsonrpc"), std::string::npos);
}

TEST(RoutingHeaders, Base64SentinelIsDecoded) {
  EXPECT_EQ(decode_header_value("tools/call"), "tools/call");
  EXPECT_EQ(decode_header_value("=?base64?5pel5pys?="), "\xe6\x97\xa5\xe6\x9c\xac");  // 日本
  EXPECT_EQ(decode_header_value("=?base64?YQ==?="), "a");
  EXPECT_EQ(decode_header_value("=?base64?YWI=?="), "ab");
  EXPECT_EQ(decode_header_value("=?base64?YWJj?="), "abc");
  EXPECT_FALSE(decode_header_value("=?base64?YWJ?="));  // not a multiple of 4
  EXPECT_FALSE(decode_header_value("=?base64?YW!j?="));
  EXPECT_FALSE(decode_header_value("=?base64?YWJj"));
}

TEST(RoutingHeaders, HeadersThatDisagreeWithTheBodyAreCaught) {
  const auto call = inspect_request(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file",
      "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})");
  EXPECT_FALSE(routing_header_mismatch(call, {}));
  EXPECT_FALSE(routing_header_mismatch(call, {"tools/call", "read_file", "2026-07-28"}));
  EXPECT_FALSE(routing_header_mismatch(call, {"tools/call", "=?base64?cmVhZF9maWxl?=", ""}));
  // The spoof: headers claim a harmless tool, the body calls another.
  const auto spoof = routing_header_mismatch(call, {"tools/call", "list_directory", ""});
  ASSERT_TRUE(spoof);
  EXPECT_NE(spoof->find("Mcp-Name"), std::string::npos);
  EXPECT_TRUE(routing_header_mismatch(call, {"tools/list", "", ""}));
  EXPECT_TRUE(routing_header_mismatch(call, {"", "", "2025-11-25"}));
  EXPECT_TRUE(routing_header_mismatch(call, {"=?base64?!!!!?=", "", ""}));
  const auto batch = inspect_request(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_TRUE(routing_header_mismatch(batch, {"ping", "", ""}));
  EXPECT_FALSE(routing_header_mismatch(batch, {"", "", "2025-03-26"}));
}

config::name_rule rule(std::vector<std::string> allow, std::vector<std::string> deny, std::string where = "routes.r.tools") {
  config::name_rule out;
  for (auto& g : allow) out.allow.push_back({g});
  for (auto& g : deny) out.deny.push_back({g});
  out.where = std::move(where);
  return out;
}

TEST(NameRules, GlobsAllowAndDenyWithDenyWinning) {
  const auto r = rule({"read_*", "list_directory", "search_file?"}, {"read_secrets"});
  EXPECT_EQ(check(r, "read_file"), name_verdict::allowed);
  EXPECT_EQ(check(r, "list_directory"), name_verdict::allowed);
  EXPECT_EQ(check(r, "search_files"), name_verdict::allowed);
  EXPECT_EQ(check(r, "search_filesx"), name_verdict::denied_by_allow);
  EXPECT_EQ(check(r, "write_file"), name_verdict::denied_by_allow);
  EXPECT_EQ(check(r, "read_secrets"), name_verdict::denied_by_deny);
  EXPECT_EQ(check(r, ""), name_verdict::denied_by_allow);
  EXPECT_EQ(check(rule({}, {"*"}), "anything"), name_verdict::denied_by_deny);
  EXPECT_EQ(check(rule({}, {}), "anything"), name_verdict::allowed);
  EXPECT_EQ(check(rule({"file:///srv/*"}, {}), "file:///srv/a/b.txt"), name_verdict::allowed);  // * crosses '/'
  EXPECT_EQ(check(rule({"file:///srv/*"}, {}), "file:///etc/passwd"), name_verdict::denied_by_allow);
}

TEST(NameRules, RefusedCallsLookLikeUnknownOnes) {
  config::mcp_policy policy;
  policy.tools = rule({"read_*"}, {}, "routes.r.tools");
  policy.resources = rule({}, {"file:///etc/*"}, "routes.r.resources");
  auto message = [](std::string method, std::string name) {
    message_info m;
    m.method = std::move(method);
    m.name = std::move(name);
    m.id = "1";
    return m;
  };
  EXPECT_FALSE(refused_call(policy, message("tools/call", "read_file")));
  const auto tool = refused_call(policy, message("tools/call", "write_file"));
  ASSERT_TRUE(tool);
  EXPECT_EQ(tool->code, -32602);
  EXPECT_EQ(tool->message, "Unknown tool: write_file");
  EXPECT_EQ(tool->rule, "routes.r.tools.allow");
  const auto resource = refused_call(policy, message("resources/read", "file:///etc/passwd"));
  ASSERT_TRUE(resource);
  EXPECT_EQ(resource->code, -32002);
  EXPECT_EQ(resource->rule, "routes.r.resources.deny");
  EXPECT_TRUE(refused_call(policy, message("resources/subscribe", "file:///etc/shadow")));
  EXPECT_FALSE(refused_call(policy, message("prompts/get", "anything")));  // no prompts rule
  EXPECT_FALSE(refused_call(policy, message("tools/list", "")));           // lists are filtered, not refused
  auto note = message("tools/call", "write_file");
  note.kind = message_kind::notification;
  EXPECT_TRUE(refused_call(policy, note));  // no answer to give, but a server might run it anyway
}

}  // namespace
}  // namespace mcpgate::mcp

namespace mcpgate::mcp {
namespace {

// A tools/list answer (id 5) in SSE after a progress event and a keep-alive, every line end
// style mixed in, and a rule hiding write_*.
struct sse_list_answer {
  config::name_rule tools;
  std::vector<list_filter> filters;
  const std::string progress = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n";
  const std::string keepalive = ": keepalive\n\n";
  const std::string answer =
      "event: message\rid: 9\rdata: {\"jsonrpc\":\"2.0\",\"id\":5,\r"
      "data: \"result\":{\"tools\":[{\"name\":\"read_file\"},{\"name\":\"write_file\"}]}}\r\r";
  sse_list_answer() {
    tools.deny.push_back({"write_*"});
    tools.where = "routes.r.tools";
    filters.push_back({"5", &tools, "tools", "name"});
  }
  sse_list_answer(const sse_list_answer&) = delete;  // filters point at tools
};

TEST(ListFilter, SseAnswersAreRewrittenEventByEventAndTheRestIsUntouched) {
  const sse_list_answer c;
  const auto& [tools, filters, progress, keepalive, answer] = c;
  const auto outcome = filter_list_events(progress + keepalive + answer, filters);
  ASSERT_TRUE(outcome.rewritten);
  EXPECT_EQ(*outcome.rewritten,
            progress + keepalive + "event: message\rid: 9\rdata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[{\"name\":\"read_file\"}]}}\n\r");
  ASSERT_EQ(outcome.hidden.size(), 1u);
  EXPECT_EQ(outcome.hidden[0].name, "write_file");
  EXPECT_EQ(outcome.hidden[0].rule, "routes.r.tools.deny");
  // Another id, or nothing to hide: the stream is left exactly as it came.
  EXPECT_FALSE(filter_list_events(progress + keepalive, filters).rewritten);
  const std::vector<list_filter> other_id{{"6", &tools, "tools", "name"}};
  EXPECT_FALSE(filter_list_events(answer, other_id).rewritten);
  EXPECT_FALSE(filter_list_events("data: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[]}}\n\nda", filters).rewritten);
}

TEST(ListFilter, AStreamedSseAnswerIsFilteredAtEverySplitAndEarlierEventsAreNotHeldBack) {
  const sse_list_answer c;
  const auto& [tools, filters, progress, keepalive, answer] = c;
  const std::string stream = progress + keepalive + answer;
  const std::string whole = *filter_list_events(stream, filters).rewritten;
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    for (std::size_t cut2 = cut; cut2 <= stream.size(); cut2 += 7) {
      list_event_filter f(filters, 1 << 20);
      filter_outcome outcome;
      std::string out = *f.feed(std::string_view(stream).substr(0, cut), false, outcome);
      out += *f.feed(std::string_view(stream).substr(cut, cut2 - cut), false, outcome);
      out += *f.feed(std::string_view(stream).substr(cut2), true, outcome);
      ASSERT_EQ(out, whole) << "cut at " << cut << ", " << cut2;
      ASSERT_EQ(outcome.hidden.size(), 1u);
    }
  }
  // The progress event goes out as soon as it is complete, before the answer has arrived.
  list_event_filter f(filters, 1 << 20);
  filter_outcome outcome;
  EXPECT_EQ(*f.feed(progress + "event: mess", false, outcome), progress);
  EXPECT_EQ(*f.feed("age\n\n", false, outcome), "event: message\n\n");
  // One event larger than the bound cannot be judged: the caller cuts the stream.
  list_event_filter small(filters, 64);
  EXPECT_FALSE(small.feed("data: " + std::string(100, 'x'), false, outcome));
}

TEST(ListFilter, JsonBatchesAndMalformedEntries) {
  config::name_rule tools;
  tools.allow.push_back({"read_*"});
  tools.where = "routes.r.tools";
  const std::vector<list_filter> filters{{"\"a\"", &tools, "tools", "name"}};
  const auto outcome = filter_list_responses(
      R"([{"jsonrpc":"2.0","id":"a","result":{"tools":[{"name":"read_x"},{"name":7},"junk",{"name":"rm"}]}},
          {"jsonrpc":"2.0","id":"b","result":{"tools":[{"name":"rm"}]}}])",
      filters);
  ASSERT_TRUE(outcome.rewritten);
  EXPECT_EQ(*outcome.rewritten,
            R"([{"jsonrpc":"2.0","id":"a","result":{"tools":[{"name":"read_x"}]}},{"jsonrpc":"2.0","id":"b","result":{"tools":[{"name":"rm"}]}}])");
  EXPECT_EQ(outcome.hidden.size(), 3u);  // an entry without a readable name is hidden too
  EXPECT_FALSE(filter_list_responses("not json", filters).rewritten);
  EXPECT_FALSE(filter_list_responses(R"({"jsonrpc":"2.0","id":"a","error":{"code":1}})", filters).rewritten);
}

}  // namespace
}  // namespace mcpgate::mcp
