// The text/event-stream readers: sse_reader watches SSE responses go by, sse_parser cuts
// them into blocks a relay forwards byte for byte or rewrites.
#include "mcp/sse.hpp"

#include <gtest/gtest.h>

#include <random>
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

// sse_parser: what a relay sees of a stream fed in pieces.
struct block {
  std::string raw, type, data;
  bool has_data = false;
  std::optional<std::string> id;
  std::optional<std::uint64_t> retry;
  bool only_comments = false;
  bool operator==(const block&) const = default;
};

struct parsed {
  std::vector<block> blocks;
  std::string pending;
  bool ok = true;
  std::string everything() const {  // what the relay would have sent
    std::string out;
    for (const auto& b : blocks) out += b.raw;
    return out + pending;
  }
};

block copy(const sse_event& e) {
  return {std::string(e.raw), e.type, e.data, e.has_data, e.id, e.retry, e.only_comments};
}

// Each piece is fed and its blocks taken at once, from a buffer then overwritten, as a relay
// reusing its read buffer would: a block pointing into stale bytes shows up as wrong `raw`.
parsed parse_in_pieces(std::string_view stream, std::vector<std::size_t> cuts, std::size_t max = 1 << 20) {
  sse_parser parser(max);
  parsed out;
  std::string read_buffer;
  std::size_t at = 0;
  cuts.push_back(stream.size());
  for (auto cut : cuts) {
    read_buffer.assign(stream.substr(at, cut - at));
    at = cut;
    if (!parser.feed(read_buffer)) out.ok = false;
    while (auto e = parser.next()) out.blocks.push_back(copy(*e));
    read_buffer.assign(read_buffer.size(), '#');
    if (!out.ok) break;
  }
  out.pending = std::string(parser.pending());
  return out;
}

parsed parse_whole(std::string_view stream, std::size_t max = 1 << 20) { return parse_in_pieces(stream, {}, max); }

// The same events whatever the split: a split between the CR and LF of a blank line moves
// that LF from the end of one block to the start of the next, and only that.
::testing::AssertionResult same_events(const parsed& split, const parsed& whole) {
  const auto stream = whole.everything();
  if (split.everything() != stream) return ::testing::AssertionFailure() << "bytes differ";
  if (split.blocks.size() != whole.blocks.size() || split.ok != whole.ok) {
    return ::testing::AssertionFailure() << split.blocks.size() << " blocks instead of " << whole.blocks.size();
  }
  std::size_t split_end = 0, whole_end = 0;
  for (std::size_t i = 0; i < whole.blocks.size(); ++i) {
    split_end += split.blocks[i].raw.size();
    whole_end += whole.blocks[i].raw.size();
    const bool lf_moved = split_end + 1 == whole_end && stream[split_end - 1] == '\r' && stream[split_end] == '\n';
    if (split_end != whole_end && !lf_moved) return ::testing::AssertionFailure() << "block " << i << " ends elsewhere";
    auto a = split.blocks[i];
    a.raw = whole.blocks[i].raw;
    if (!(a == whole.blocks[i])) return ::testing::AssertionFailure() << "block " << i << " differs: " << a.raw;
  }
  return ::testing::AssertionSuccess();
}

TEST(SseParser, AnMcpStreamBlockByBlock) {
  const std::string message = "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
  const std::string keepalive = ": keepalive\n\n";
  const auto out = parse_whole(message + keepalive + "data: par");
  ASSERT_EQ(out.blocks.size(), 2u);
  EXPECT_EQ(out.blocks[0].raw, message);
  EXPECT_EQ(out.blocks[0].type, "message");
  EXPECT_EQ(out.blocks[0].id, "1");
  EXPECT_EQ(out.blocks[0].data, R"({"jsonrpc":"2.0","id":1,"result":{}})");
  EXPECT_TRUE(out.blocks[0].has_data);
  EXPECT_FALSE(out.blocks[0].only_comments);
  EXPECT_EQ(out.blocks[1].raw, keepalive);
  EXPECT_TRUE(out.blocks[1].only_comments);
  EXPECT_FALSE(out.blocks[1].has_data);
  EXPECT_EQ(out.pending, "data: par");  // an unfinished event: passed on at the stream's end
}

TEST(SseParser, EveryLineEndAndMixtures) {
  for (const std::string eol : {"\n", "\r\n", "\r"}) {
    const std::string event = "data: a" + eol + "data:b" + eol + "data:  c" + eol + "data" + eol + eol;
    const auto out = parse_whole(event + event);
    ASSERT_EQ(out.blocks.size(), 2u) << eol.size();
    EXPECT_EQ(out.blocks[0].raw, event);
    EXPECT_EQ(out.blocks[0].data, "a\nb\n c\n");  // one space removed; a bare "data" adds an empty line
    EXPECT_EQ(out.blocks[1], out.blocks[0]);
    EXPECT_EQ(out.pending, "");
  }
  const auto mixed = parse_whole("data: x\r\ndata: y\rdata: z\n\r\nevent: e\ndata: 2\r\r: c\n\r");
  ASSERT_EQ(mixed.blocks.size(), 3u);
  EXPECT_EQ(mixed.blocks[0].raw, "data: x\r\ndata: y\rdata: z\n\r\n");
  EXPECT_EQ(mixed.blocks[0].data, "x\ny\nz");
  EXPECT_EQ(mixed.blocks[1].raw, "event: e\ndata: 2\r\r");
  EXPECT_EQ(mixed.blocks[1].type, "e");
  EXPECT_EQ(mixed.blocks[2].raw, ": c\n\r");
  EXPECT_TRUE(mixed.blocks[2].only_comments);
}

TEST(SseParser, CrLfSplitBetweenReads) {
  // Inside a block: CR | LF is one line end, not an empty line that would end the block.
  const auto inside = parse_in_pieces("data: a\r\ndata: b\r\n\r\n", {8});
  ASSERT_EQ(inside.blocks.size(), 1u);
  EXPECT_EQ(inside.blocks[0].data, "a\nb");
  EXPECT_EQ(inside.blocks[0].raw, "data: a\r\ndata: b\r\n\r\n");
  // Closing a block: the block is complete at the CR, so it is not held back waiting for the
  // LF; that LF then opens the next block and is skipped there.
  sse_parser parser(1024);
  ASSERT_TRUE(parser.feed("data: a\r\n\r"));
  auto first = parser.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->raw, "data: a\r\n\r");
  EXPECT_EQ(first->data, "a");
  EXPECT_FALSE(parser.next());
  ASSERT_TRUE(parser.feed("\n"));
  EXPECT_FALSE(parser.next());  // not a blank line of its own
  EXPECT_EQ(parser.pending(), "\n");
  ASSERT_TRUE(parser.feed("data: b\r\n\r\n"));
  auto second = parser.next();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->raw, "\ndata: b\r\n\r\n");
  EXPECT_EQ(second->data, "b");
  EXPECT_FALSE(second->only_comments);
  EXPECT_FALSE(parser.next());
  // LF alone after it is a blank line: an empty block.
  ASSERT_TRUE(parser.feed("data: c\n\r"));
  ASSERT_TRUE(parser.next());
  ASSERT_TRUE(parser.feed("\n\n"));
  auto empty = parser.next();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->raw, "\n\n");
  EXPECT_TRUE(empty->only_comments);
  EXPECT_FALSE(empty->has_data);
}

TEST(SseParser, SplitAtEveryPositionGivesTheSameEvents) {
  const std::string stream =
      "\xEF\xBB\xBFretry: 1500\r\nid: a\r\nevent: message\r\ndata: {\"x\":1}\r\n\r\n: c\r\n\r\n"
      "data: 2\r\rdata: 3\n\ndata\nfoo\n\r\n\r\n\rid\r\n\r\ndata: tail\r";
  const auto whole = parse_whole(stream);
  ASSERT_EQ(whole.blocks.size(), 8u);
  EXPECT_EQ(whole.blocks[0].retry, 1500u);
  EXPECT_EQ(whole.blocks[0].data, "{\"x\":1}");
  EXPECT_EQ(whole.pending, "data: tail\r");
  EXPECT_EQ(whole.everything(), stream);
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    EXPECT_TRUE(same_events(parse_in_pieces(stream, {i}), whole)) << "cut at " << i;
    for (std::size_t j = i; j <= stream.size(); ++j) {
      EXPECT_TRUE(same_events(parse_in_pieces(stream, {i, j}), whole)) << "cuts at " << i << " and " << j;
    }
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
  EXPECT_TRUE(same_events(parse_in_pieces(stream, every_byte), whole));
}

TEST(SseParser, ManyLinesInOneRead) {
  // Line ends are searched with look-ahead state that lives through a whole read.
  for (const std::string eol : {"\n", "\r\n", "\r"}) {
    std::string stream;
    for (int i = 0; i < 1000; ++i) stream += ": c" + eol + "data: " + std::to_string(i) + eol + eol;
    stream += std::string(5000, 'x') + eol + "data: last" + eol + eol;
    const auto out = parse_whole(stream);
    ASSERT_EQ(out.blocks.size(), 1001u) << eol.size();
    EXPECT_EQ(out.blocks[999].data, "999");
    EXPECT_EQ(out.blocks[1000].data, "last");
    EXPECT_EQ(out.everything(), stream);
  }
}

TEST(SseParser, NothingCompleteIsHeldBack) {
  sse_parser parser(1024);
  ASSERT_TRUE(parser.feed("data: 1\n"));
  EXPECT_FALSE(parser.next());
  ASSERT_TRUE(parser.feed("\n"));
  auto e = parser.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->raw, "data: 1\n\n");
  ASSERT_TRUE(parser.feed("data: 2\r\r"));  // a CR closes the block: no need to see what follows
  e = parser.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, "2");
  EXPECT_EQ(parser.pending(), "");
}

TEST(SseParser, FieldRules) {
  static constexpr char raw[] =
      "data:x\n\ndata: x\n\ndata:  x\n\n"                 // one space removed, only one
      "id: a\0b\ndata: 1\n\n"                              // an id holding NUL is ignored
      "retry: 12x\ndata: 2\n\nretry: 99999999999999999999\n\nretry:\n\nretry: 7\n\n"
      "data\nid\nevent\nunknown: z\n\n"                    // fields without a colon: empty values
      "event: a\nevent: b\nid: 1\nid: 2\n\n"              // the last one counts
      "id: 3\n\n";                                          // no data: still sets the last id
  const auto out = parse_whole(std::string_view(raw, sizeof raw - 1));
  ASSERT_EQ(out.blocks.size(), 11u);
  EXPECT_EQ(out.blocks[0].data, "x");
  EXPECT_EQ(out.blocks[1].data, "x");
  EXPECT_EQ(out.blocks[2].data, " x");
  EXPECT_FALSE(out.blocks[3].id);
  EXPECT_EQ(out.blocks[3].data, "1");
  EXPECT_FALSE(out.blocks[4].retry);
  EXPECT_FALSE(out.blocks[5].retry);  // does not fit: no delay anyone waits for
  EXPECT_FALSE(out.blocks[5].only_comments);
  EXPECT_FALSE(out.blocks[6].retry);
  EXPECT_EQ(out.blocks[7].retry, 7u);
  EXPECT_FALSE(out.blocks[7].has_data);
  EXPECT_TRUE(out.blocks[8].has_data);
  EXPECT_EQ(out.blocks[8].data, "");
  EXPECT_EQ(out.blocks[8].id, "");
  EXPECT_EQ(out.blocks[8].type, "");
  EXPECT_EQ(out.blocks[9].type, "b");
  EXPECT_EQ(out.blocks[9].id, "2");
  EXPECT_EQ(out.blocks[10].id, "3");
  EXPECT_FALSE(out.blocks[10].has_data);

  sse_parser parser(1024);
  ASSERT_TRUE(parser.feed("id: 5\ndata: x\n\n: only a comment\n\nid\n\n"));
  ASSERT_TRUE(parser.next());
  EXPECT_EQ(parser.last_event_id(), "5");
  ASSERT_TRUE(parser.next());
  EXPECT_EQ(parser.last_event_id(), "5");
  ASSERT_TRUE(parser.next());
  EXPECT_EQ(parser.last_event_id(), "");  // a bare id resets it
}

TEST(SseParser, CommentsAndEmptyBlocks) {
  const auto out = parse_whole(": ping\n:\n\n\n\n: a\r\n: b\r\n\r\n");
  ASSERT_EQ(out.blocks.size(), 4u);
  EXPECT_EQ(out.blocks[0].raw, ": ping\n:\n\n");
  EXPECT_EQ(out.blocks[1].raw, "\n");
  EXPECT_EQ(out.blocks[2].raw, "\n");
  EXPECT_EQ(out.blocks[3].raw, ": a\r\n: b\r\n\r\n");
  for (const auto& b : out.blocks) {
    EXPECT_TRUE(b.only_comments);
    EXPECT_FALSE(b.has_data);
  }
  EXPECT_FALSE(parse_whole("data:\n\n").blocks[0].only_comments);
  EXPECT_FALSE(parse_whole("x\n\n").blocks[0].only_comments);
}

TEST(SseParser, ByteOrderMark) {
  const std::string stream = "\xEF\xBB\xBF" "data: 1\n\n\xEF\xBB\xBF" "data: 2\n\n";
  const auto out = parse_whole(stream);
  ASSERT_EQ(out.blocks.size(), 2u);
  EXPECT_EQ(out.blocks[0].raw, "\xEF\xBB\xBF" "data: 1\n\n");  // passed on, not parsed
  EXPECT_EQ(out.blocks[0].data, "1");
  EXPECT_FALSE(out.blocks[1].has_data);  // only the stream's first bytes can be a BOM
  for (std::size_t cut = 1; cut < 4; ++cut) EXPECT_TRUE(same_events(parse_in_pieces(stream, {1, cut}), out));
  const auto bom_then_blank = parse_in_pieces("\xEF\xBB\xBF\ndata: 1\n\n", {2});
  ASSERT_EQ(bom_then_blank.blocks.size(), 2u);
  EXPECT_EQ(bom_then_blank.blocks[0].raw, "\xEF\xBB\xBF\n");
  // The start of a BOM that does not go on is content: no blank line here.
  const auto half = parse_in_pieces("\xEF\xBB\ndata: 1\n\n", {1});
  ASSERT_EQ(half.blocks.size(), 1u);
  EXPECT_EQ(half.blocks[0].data, "1");
  EXPECT_FALSE(half.blocks[0].only_comments);
  EXPECT_EQ(parse_in_pieces("\xEF\xBB", {1}).pending, "\xEF\xBB");
}

TEST(SseParser, AnOversizedBlockStopsParsingAndHandsBackTheRest) {
  const std::string big = "data: " + std::string(100, 'x') + "\n\n";
  const std::string stream = "data: ok\n\n" + big + "data: after\n\n";
  for (const auto& out : {parse_whole(stream, 64), parse_in_pieces(stream, {5, 30, 60, 100}, 64)}) {
    EXPECT_FALSE(out.ok);
    ASSERT_EQ(out.blocks.size(), 1u);  // the blocks before it are still parsed
    EXPECT_EQ(out.blocks[0].data, "ok");
    EXPECT_TRUE(stream.starts_with(out.everything()));
    EXPECT_TRUE(out.pending.starts_with(big.substr(0, 20)));
  }
  sse_parser parser(64);
  ASSERT_TRUE(parser.feed("data: ok\n\ndata: "));
  EXPECT_FALSE(parser.feed(std::string(100, 'x')));  // refused before its end arrives
  EXPECT_NE(parser.error(), "");
  ASSERT_TRUE(parser.next());
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.pending(), "data: " + std::string(100, 'x'));
  EXPECT_FALSE(parser.feed("\n\ndata: 1\n\n"));  // and stays out of the way
  EXPECT_FALSE(parser.next());
  // Exactly at the bound is fine; a closing CRLF counts as one byte however it is split.
  const std::string at_bound = "data: 12345\r\n\r\n";  // 15 bytes, 14 counted
  EXPECT_TRUE(parse_whole(at_bound, 14).ok);
  EXPECT_TRUE(parse_in_pieces(at_bound, {14}, 14).ok);
  EXPECT_FALSE(parse_whole(at_bound, 13).ok);
  EXPECT_FALSE(parse_in_pieces(at_bound, {14}, 13).ok);
}

TEST(SseParser, EmptyReads) {
  sse_parser parser(1024);
  EXPECT_TRUE(parser.feed(""));
  EXPECT_FALSE(parser.next());
  EXPECT_TRUE(parser.feed("data: 1\n"));
  EXPECT_TRUE(parser.feed(""));
  EXPECT_TRUE(parser.feed("\n"));
  EXPECT_TRUE(parser.feed(""));  // between feed and next: the block stays
  auto e = parser.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, "1");
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.pending(), "");
}

TEST(SseParser, BlocksNotTakenBeforeTheNextReadAreKept) {
  sse_parser parser(1024);
  std::string first = "data: 1\n\ndata: 2\n\ndata: 3";
  ASSERT_TRUE(parser.feed(first));
  auto one = parser.next();
  ASSERT_TRUE(one);
  EXPECT_EQ(one->data, "1");
  ASSERT_TRUE(parser.feed("\n\ndata: 4\n\n"));  // "data: 2" not taken yet
  first.assign(first.size(), '#');                 // the first read's buffer is reused
  std::vector<std::string> rest;
  while (auto e = parser.next()) rest.push_back(std::string(e->raw));
  EXPECT_EQ(rest, (std::vector<std::string>{"data: 2\n\n", "data: 3\n\n", "data: 4\n\n"}));
}

TEST(SseParser, RandomStreamsPassThroughUnchanged) {
  std::mt19937 random(7);
  const std::string_view pieces[] = {"data", "data:", "data: ", "event: x", "id: 1", "retry: 5", ":", "\n", "\r",
                                     "\r\n", "\n\n", "\r\r", "\xEF\xBB\xBF", "x", " ", "\0", "id"};
  for (int round = 0; round < 500; ++round) {
    std::string stream;
    const int n = static_cast<int>(random() % 40);
    for (int i = 0; i < n; ++i) stream += pieces[random() % std::size(pieces)];
    const auto whole = parse_whole(stream);
    ASSERT_EQ(whole.everything(), stream);
    std::vector<std::size_t> cuts;
    for (std::size_t at = random() % 4; at < stream.size(); at += 1 + random() % 6) cuts.push_back(at);
    ASSERT_TRUE(same_events(parse_in_pieces(stream, cuts), whole)) << round;
  }
}

TEST(SseParser, SerializedEventsParseBack) {
  sse_event e;
  e.type = "message";
  e.data = "{\"a\":1}\n line two\r\nthree\rfour\n";
  e.has_data = true;
  e.id = " 7";
  e.retry = 3000;
  const auto text = serialize_sse_event(e);
  EXPECT_EQ(text, "event: message\ndata: {\"a\":1}\ndata:  line two\ndata: three\ndata: four\ndata: \nid:  7\nretry: 3000\n\n");
  auto back = parse_whole(text);
  ASSERT_EQ(back.blocks.size(), 1u);
  EXPECT_EQ(back.blocks[0].raw, text);
  EXPECT_EQ(back.blocks[0].type, "message");
  EXPECT_EQ(back.blocks[0].data, "{\"a\":1}\n line two\nthree\nfour\n");  // line ends become LF
  EXPECT_EQ(back.blocks[0].id, " 7");
  EXPECT_EQ(back.blocks[0].retry, 3000u);

  sse_event empty_data;
  empty_data.has_data = true;
  EXPECT_EQ(serialize_sse_event(empty_data), "data: \n\n");
  EXPECT_EQ(serialize_sse_event(sse_event{}), "\n");
  sse_event empty_id;
  empty_id.id = "";
  EXPECT_EQ(parse_whole(serialize_sse_event(empty_id)).blocks[0].id, "");
  // A value cannot smuggle in lines of its own.
  sse_event injected;
  injected.type = "message\ndata: evil";
  injected.id = "1\r\nretry: 1";
  EXPECT_EQ(serialize_sse_event(injected), "event: message\nid: 1\n\n");

  // Every event of a mixed stream survives the trip.
  const auto mixed = parse_whole("data: a\r\ndata:  b\nevent:  t\nid\nretry: 9\n\ndata\n\nid: x\n\n: c\n\n");
  for (const auto& b : mixed.blocks) {
    const sse_event from{.type = b.type, .data = b.data, .id = b.id, .retry = b.retry, .has_data = b.has_data};
    const auto again = parse_whole(serialize_sse_event(from));
    ASSERT_EQ(again.blocks.size(), 1u);
    EXPECT_EQ(again.blocks[0].type, b.type);
    EXPECT_EQ(again.blocks[0].data, b.data);
    EXPECT_EQ(again.blocks[0].has_data, b.has_data);
    EXPECT_EQ(again.blocks[0].id, b.id);
    EXPECT_EQ(again.blocks[0].retry, b.retry);
  }
}

TEST(SseParser, HoldsOnlyTheIncompleteBlock) {
  sse_parser parser(1 << 20);
  // A big event in tiny pieces: held while incomplete, and not rescanned per piece (this
  // would take seconds if each piece rescanned the block).
  const std::string big = "data: " + std::string(200000, 'x') + "\n\n";
  for (std::size_t at = 0; at < big.size(); at += 3) {
    ASSERT_TRUE(parser.feed(std::string_view(big).substr(at, 3)));
    if (at + 3 < big.size()) {
      EXPECT_EQ(parser.buffered(), at + 3);
    }
  }
  auto e = parser.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data.size(), 200000u);
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.buffered(), 0u);
  EXPECT_EQ(parser.held_bytes(), 0u);  // an idle stream holds nothing
  ASSERT_TRUE(parser.feed(": keepalive\n\ndata: partial"));
  ASSERT_TRUE(parser.next());
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.buffered(), std::string_view("data: partial").size());
  EXPECT_LT(parser.held_bytes(), 4096u);
  ASSERT_TRUE(parser.feed("\n\n"));
  ASSERT_TRUE(parser.next());
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.held_bytes(), 0u);
}

}  // namespace
}  // namespace mcpgate::mcp
