// The legacy HTTP+SSE transport behind a stripped path prefix: the endpoint event's URL
// is rewritten so that clients post back through the gateway; nothing else changes.
#include "mcp/legacy_sse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mcpgate::mcp {
namespace {

config::upstream_target upstream(std::string scheme, std::string host, std::uint16_t port) {
  config::upstream_target u;
  u.scheme = std::move(scheme);
  u.host = std::move(host);
  u.port = port;
  return u;
}

const config::upstream_target everything = upstream("http", "10.0.0.5", 3001);

TEST(LegacySseEndpoint, PathAbsoluteGetsThePrefixAndKeepsTheQuery) {
  EXPECT_EQ(rewrite_endpoint("/message?sessionId=5f0c-11", "/everything", everything),
            "/everything/message?sessionId=5f0c-11");
  EXPECT_EQ(rewrite_endpoint("/message", "/everything", everything), "/everything/message");
  EXPECT_EQ(rewrite_endpoint("/", "/everything", everything), "/everything/");
  EXPECT_EQ(rewrite_endpoint("/a/b?x=%2F&y=/z#frag", "/a/b", everything), "/a/b/a/b?x=%2F&y=/z#frag");
  // A route path written with a trailing '/' (the loader normalises it away anyway).
  EXPECT_EQ(rewrite_endpoint("/message?s=1", "/everything/", everything), "/everything/message?s=1");
}

TEST(LegacySseEndpoint, AbsoluteUrlOfTheUpstreamBecomesPathAbsolute) {
  EXPECT_EQ(rewrite_endpoint("http://10.0.0.5:3001/message?sessionId=abc", "/everything", everything),
            "/everything/message?sessionId=abc");
  EXPECT_EQ(rewrite_endpoint("HTTP://10.0.0.5:3001/message?sessionId=abc", "/everything", everything),
            "/everything/message?sessionId=abc");
  EXPECT_EQ(rewrite_endpoint("http://10.0.0.5:3001?sessionId=abc", "/everything", everything),
            "/everything/?sessionId=abc");
  EXPECT_EQ(rewrite_endpoint("http://10.0.0.5:3001", "/everything", everything), "/everything/");
  const auto named = upstream("https", "mcp.internal", 443);
  EXPECT_EQ(rewrite_endpoint("https://MCP.Internal/message?s=1", "/x", named), "/x/message?s=1");
  EXPECT_EQ(rewrite_endpoint("https://mcp.internal:443/message?s=1", "/x", named), "/x/message?s=1");
  EXPECT_EQ(rewrite_endpoint("https://mcp.internal./message?s=1", "/x", named), "/x/message?s=1");
  const auto v6 = upstream("http", "fd00::5", 8080);
  EXPECT_EQ(rewrite_endpoint("http://[fd00:0::5]:8080/message?s=1", "/x", v6), "/x/message?s=1");
}

TEST(LegacySseEndpoint, OtherOriginsStay) {
  for (auto other : {"http://10.0.0.6:3001/message?s=1",   // another host
                     "http://10.0.0.5:3002/message?s=1",   // another port
                     "http://10.0.0.5/message?s=1",        // port 80
                     "https://10.0.0.5:3001/message?s=1",  // another scheme
                     "http://localhost:3001/message?s=1",  // a name for it, maybe; not the one configured
                     "http://user@10.0.0.5:3001/message?s=1", "http://10.0.0.5:3001@evil.example/message",
                     "ftp://10.0.0.5:3001/message", "https://evil.example/message?s=1",
                     "//10.0.0.5:3001/message?s=1",  // network-path reference
                     "mailto:x@10.0.0.5"}) {
    EXPECT_EQ(rewrite_endpoint(other, "/everything", everything), std::nullopt) << other;
  }
}

TEST(LegacySseEndpoint, RootPrefixChangesNothing) {
  EXPECT_EQ(rewrite_endpoint("/message?sessionId=1", "/", everything), std::nullopt);
  EXPECT_EQ(rewrite_endpoint("http://10.0.0.5:3001/message?sessionId=1", "/", everything), std::nullopt);
  EXPECT_EQ(rewrite_endpoint("/message?sessionId=1", "", everything), std::nullopt);
}

TEST(LegacySseEndpoint, MalformedOrRelativeStays) {
  for (auto bad : {"", " /message", "/message?s=1 ", "/mess age", "/message\n/other", "/message\r", "/a\x7f",
                   "message?sessionId=1",  // relative: the client resolves it against <prefix>/sse already
                   "?sessionId=1", "http://", "http://[::1/message", "http://10.0.0.5:99999/x",
                   "http://10.0.0.5:0/x", "not a url", "\x01/message"}) {
    EXPECT_EQ(rewrite_endpoint(bad, "/everything", everything), std::nullopt) << bad;
  }
}

std::string relay(endpoint_rewriter& rewriter, std::string_view stream, std::size_t piece) {
  std::string out;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    const auto bytes = stream.substr(at, piece);
    out += rewriter.feed(bytes, at + bytes.size() >= stream.size());
  }
  return out;
}

constexpr std::string_view legacy_stream =
    "event: endpoint\r\ndata: /message?sessionId=0af3\r\n\r\n"
    ": keep-alive\n\n"
    "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"url\":\"/message?x\"}}\n\n"
    "data: /message?not=an-endpoint-event\n\n"
    "event: endpoint\nid: 7\ndata: http://10.0.0.5:3001/message?sessionId=2\n\n"
    "event: endpoint\ndata: https://elsewhere.example/message\n\n"
    "event: message\ndata: incomplete at the end";

constexpr std::string_view legacy_stream_rewritten =
    "event: endpoint\ndata: /everything/message?sessionId=0af3\n\n"
    ": keep-alive\n\n"
    "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"url\":\"/message?x\"}}\n\n"
    "data: /message?not=an-endpoint-event\n\n"
    "event: endpoint\ndata: /everything/message?sessionId=2\nid: 7\n\n"
    "event: endpoint\ndata: https://elsewhere.example/message\n\n"
    "event: message\ndata: incomplete at the end";

TEST(LegacySseRewriter, OnlyEndpointEventsChangeWhateverTheReads) {
  for (std::size_t piece : {legacy_stream.size(), std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{50}}) {
    endpoint_rewriter rewriter("/everything", everything);
    EXPECT_EQ(relay(rewriter, legacy_stream, piece), legacy_stream_rewritten) << piece;
    EXPECT_EQ(rewriter.rewritten(), 2u);
    EXPECT_FALSE(rewriter.passing_through());
  }
}

TEST(LegacySseRewriter, CompleteEventsLeaveWithTheReadThatCompletesThem) {
  endpoint_rewriter rewriter("/everything", everything);
  EXPECT_EQ(rewriter.feed("event: endpoint\ndata: /mess", false), "");
  EXPECT_EQ(rewriter.feed("age?sessionId=1\n\nevent: message\ndata: {}\n", false),
            "event: endpoint\ndata: /everything/message?sessionId=1\n\n");
  EXPECT_EQ(rewriter.feed("\n", false), "event: message\ndata: {}\n\n");
  EXPECT_EQ(rewriter.held_bytes(), 0u);  // nothing held by a quiet stream at an event boundary
  EXPECT_EQ(rewriter.feed(": ping\n\n", false), ": ping\n\n");
  EXPECT_EQ(rewriter.feed("", true), "");
}

// A CRLF split between reads: the parser gives its LF to the next block. Next to a
// rewritten block that LF must neither vanish nor double.
TEST(LegacySseRewriter, SplitCrlfNextToARewrittenEventGivesTheSameBytes) {
  const std::string stream =
      "data: a\r\r\nevent: endpoint\ndata: /m\r\n\r\n\rdata: b\n\n";
  const std::string expected = "data: a\r\r\nevent: endpoint\ndata: /p/m\n\n\rdata: b\n\n";
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    endpoint_rewriter rewriter("/p", everything);
    std::string out = rewriter.feed(stream.substr(0, cut), false);
    out += rewriter.feed(stream.substr(cut), true);
    EXPECT_EQ(out, expected) << cut;
  }
}

TEST(LegacySseRewriter, AnEventPastTheBoundEndsParsingAndPassesThrough) {
  endpoint_rewriter rewriter("/everything", everything, 64);
  const std::string big = "event: message\ndata: " + std::string(100, 'x') + "\n\n";
  std::string out = rewriter.feed("event: endpoint\ndata: /message?s=1\n\n" + big.substr(0, 30), false);
  out += rewriter.feed(big.substr(30), false);
  EXPECT_TRUE(rewriter.passing_through());
  out += rewriter.feed("event: endpoint\ndata: /message?s=2\n\n", true);
  EXPECT_EQ(out, "event: endpoint\ndata: /everything/message?s=1\n\n" + big +
                     "event: endpoint\ndata: /message?s=2\n\n");
  EXPECT_EQ(rewriter.rewritten(), 1u);
}

}  // namespace
}  // namespace mcpgate::mcp
