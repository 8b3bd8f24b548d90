// The text/event-stream reader that watches SSE responses go by.
#include "mcp/sse.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace mcpgate::mcp {
namespace {

std::vector<sse_event> read_in_pieces(std::string_view stream, std::vector<std::size_t> cuts,
                                      std::size_t max = 1 << 20) {
  sse_reader reader(max);
  std::vector<sse_event> out;
  std::size_t at = 0;
  cuts.push_back(stream.size());
  for (auto cut : cuts) {
    reader.feed(stream.substr(at, cut - at), [&](const sse_event& e) { out.push_back(e); });
    at = cut;
  }
  return out;
}

std::vector<sse_event> read_all(std::string_view stream, std::size_t max = 1 << 20) { return read_in_pieces(stream, {}, max); }

bool same(const std::vector<sse_event>& a, const std::vector<sse_event>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].type != b[i].type || a[i].data != b[i].data || a[i].id != b[i].id || a[i].retry != b[i].retry) return false;
  }
  return true;
}

TEST(SseReader, AnMcpStreamEventByEvent) {
  const auto events = read_all(
      "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"
      ": keepalive\n\n"
      "event: message\nid: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n");
  ASSERT_EQ(events.size(), 2u);  // the comment dispatches nothing
  EXPECT_EQ(events[0].type, "message");
  EXPECT_EQ(events[0].id, "1");
  EXPECT_EQ(events[1].data, R"({"jsonrpc":"2.0","id":7,"result":{}})");
}

TEST(SseReader, EveryLineEndAndMultiLineData) {
  for (const std::string eol : {"\n", "\r\n", "\r"}) {
    const auto events = read_all("data: a" + eol + "data:b" + eol + "data:  c" + eol + "data" + eol + eol);
    ASSERT_EQ(events.size(), 1u) << eol.size();
    EXPECT_EQ(events[0].data, "a\nb\n c\n");  // one space removed, a bare "data" adds an empty line
  }
  const auto mixed = read_all("data: x\r\ndata: y\rdata: z\n\r\nevent: e\ndata: 2\r\r");
  ASSERT_EQ(mixed.size(), 2u);
  EXPECT_EQ(mixed[0].data, "x\ny\nz");
  EXPECT_EQ(mixed[1].type, "e");
}

TEST(SseReader, SplitAnywhereGivesTheSameEvents) {
  const std::string stream = "\xEF\xBB\xBFretry: 1500\r\nid: a\r\nevent: message\r\ndata: {\"x\":1}\r\n\r\n: c\r\n\r\ndata: 2\r\rdata: 3\n\n";
  const auto whole = read_all(stream);
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[0].retry, 1500u);
  EXPECT_EQ(whole[0].data, "{\"x\":1}");
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    for (std::size_t j = i; j <= stream.size(); j += 3) {
      EXPECT_TRUE(same(read_in_pieces(stream, {i, j}), whole)) << "cuts at " << i << " and " << j;
    }
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
  EXPECT_TRUE(same(read_in_pieces(stream, every_byte), whole));
}

TEST(SseReader, FieldRules) {
  static constexpr char raw[] = "id: a\0b\ndata: 1\n\nretry: 12x\ndata: 2\n\nid\nunknown: z\ndata\n\nevent: only\n\n";
  const std::string with_nul(raw, sizeof raw - 1);
  sse_reader reader;
  std::vector<sse_event> out;
  reader.feed(with_nul, [&](const sse_event& e) { out.push_back(e); });
  ASSERT_EQ(out.size(), 3u);  // an event without data is not dispatched
  EXPECT_FALSE(out[0].id);    // an id holding NUL is ignored
  EXPECT_FALSE(out[1].retry);
  EXPECT_EQ(out[2].id, "");   // `id` alone: an empty id
  EXPECT_EQ(out[2].data, "");
  EXPECT_EQ(reader.last_event_id(), "");
}

TEST(SseReader, OversizedEventsAreMarkedAndTheStreamGoesOn) {
  for (const auto& events : {read_all("data: " + std::string(100, 'x') + "\n\ndata: ok\n\n", 64),
                             read_in_pieces("data: " + std::string(100, 'x') + "\n\ndata: ok\n\n", {50}, 64)}) {
    ASSERT_EQ(events.size(), 2u);  // read whole or in pieces, the long line makes an oversized event
    EXPECT_TRUE(events[0].oversized);
    EXPECT_EQ(events[1].data, "ok");
  }
  const auto long_data = read_all("data: 0123456789\ndata: 0123456789\n\ndata: ok\n\n", 16);
  ASSERT_EQ(long_data.size(), 2u);
  EXPECT_TRUE(long_data[0].oversized);
  EXPECT_FALSE(long_data[1].oversized);
  EXPECT_EQ(long_data[1].data, "ok");
  const auto split_long = read_in_pieces("id: 1\ndata: " + std::string(40, 'y') + "\ndata: z\n\n", {10, 20, 30}, 16);
  ASSERT_EQ(split_long.size(), 1u);
  EXPECT_TRUE(split_long[0].oversized);
}

TEST(SseReader, AQuietStreamHoldsAlmostNothing) {
  sse_reader reader;
  reader.feed("data: " + std::string(100000, 'x') + "\n\n", [](const sse_event&) {});
  EXPECT_LT(reader.held_bytes(), 8192u);
  reader.feed(": keepalive\n\n", [](const sse_event&) {});
  EXPECT_LT(reader.held_bytes(), 8192u);
}

}  // namespace
}  // namespace mcpgate::mcp
