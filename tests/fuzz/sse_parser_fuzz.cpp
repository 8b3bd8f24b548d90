// Fuzz target for the SSE parser a relay forwards blocks with (mcp::sse_parser): the raw
// blocks and the pending bytes give back the input byte for byte; reads split anywhere
// (inside a CRLF, a BOM, a field) give the events of one read, failing at the same block
// when one exceeds the bound; serialize_sse_event() of every event parses back to its fields.
//
// Input: 3 control bytes, then the stream.
//   [0] the longest read (1 + [0] % 64 bytes) and, with [1], the seed of the read sizes
//   [1] bit 0: take events only after every second read (the not-taken-yet path)
//   [2] < 128: no bound; else a bound of ([2] - 128) * 2 bytes
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mcp/sse.hpp"

namespace {

using mcpgate::mcp::sse_event;
using mcpgate::mcp::sse_parser;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct block {
  std::string raw, type, data;
  bool has_data;
  std::optional<std::string> id;
  std::optional<std::uint64_t> retry;
  bool only_comments;
};

bool same_fields(const block& a, const block& b) {
  return a.type == b.type && a.data == b.data && a.has_data == b.has_data && a.id == b.id && a.retry == b.retry &&
         a.only_comments == b.only_comments;
}

struct parsed {
  std::vector<block> blocks;
  std::string pending;
  bool ok = true;
};

void take(sse_parser& parser, parsed& out) {
  while (auto e = parser.next()) {
    check(!e->raw.empty() && !e->oversized);
    out.blocks.push_back({std::string(e->raw), e->type, e->data, e->has_data, e->id, e->retry, e->only_comments});
  }
}

// Each read lives in its own allocation, freed as soon as the parser may no longer use it,
// so that ASan reports a block pointing into a read that is gone.
parsed parse(std::string_view stream, const std::vector<std::size_t>& sizes, bool take_every_second,
             std::size_t max) {
  sse_parser parser(max);
  parsed out;
  std::unique_ptr<char[]> previous, current;
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    const auto n = std::min(sizes[i % sizes.size()], stream.size() - at);
    current = std::make_unique<char[]>(n);
    stream.copy(current.get(), n, at);
    at += n;
    out.ok = parser.feed({current.get(), n});
    previous.reset();  // kept alive through this feed(): it copies blocks not taken yet
    if (!take_every_second || i % 2 == 1 || !out.ok || at == stream.size()) {
      take(parser, out);
      current.reset();
      // What stays is the incomplete block: bounded (one uncounted LF of a split CRLF aside).
      if (out.ok) check(parser.buffered() == parser.pending().size() && parser.buffered() <= max + 1);
      if (out.ok && parser.pending().empty()) check(parser.held_bytes() == 0);
    }
    std::swap(previous, current);
    if (!out.ok) break;
  }
  take(parser, out);
  out.pending = std::string(parser.pending());
  check(out.ok == parser.error().empty());
  return out;
}

std::string joined(const parsed& p) {
  std::string out;
  for (const auto& b : p.blocks) out += b.raw;
  return out + p.pending;
}

void check_serialized(const block& b) {
  const sse_event e{.type = b.type, .data = b.data, .id = b.id, .retry = b.retry, .has_data = b.has_data};
  const auto text = mcpgate::mcp::serialize_sse_event(e);
  const auto again = parse(text, {text.size()}, false, text.size());
  check(again.ok && again.blocks.size() == 1 && again.pending.empty() && again.blocks[0].raw == text);
  const auto& a = again.blocks[0];
  check(a.type == b.type && a.data == b.data && a.has_data == b.has_data && a.id == b.id && a.retry == b.retry);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 3), size - 3);
  const std::size_t longest = 1 + data[0] % 64;
  const bool take_every_second = data[1] & 1;
  const std::size_t max = data[2] < 128 ? std::size_t{1} << 20 : static_cast<std::size_t>(data[2] - 128) * 2;
  std::vector<std::size_t> sizes;
  std::uint32_t seed = (data[0] << 8 | data[1]) * 2654435761u + 1;
  for (int i = 0; i < 16; ++i) {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    sizes.push_back(1 + seed % longest);
  }

  const auto whole = parse(stream, {stream.size() + 1}, false, max);
  const auto split = parse(stream, sizes, take_every_second, max);
  const auto bytes = parse(stream, {1}, false, max);
  for (const auto* p : {&whole, &split, &bytes}) {
    const auto all = joined(*p);
    check(p->ok ? all == stream : stream.starts_with(all));
  }
  // Same blocks, ending at the same bytes, except that an LF closing a CRLF blank line may
  // open the next block instead when the reads split that CRLF.
  for (const auto* p : {&split, &bytes}) {
    check(p->ok == whole.ok && p->blocks.size() == whole.blocks.size());
    std::size_t end = 0, whole_end = 0;
    for (std::size_t i = 0; i < whole.blocks.size(); ++i) {
      end += p->blocks[i].raw.size();
      whole_end += whole.blocks[i].raw.size();
      check(end == whole_end || (end + 1 == whole_end && stream[end - 1] == '\r' && stream[end] == '\n'));
      check(same_fields(p->blocks[i], whole.blocks[i]));
    }
    if (!whole.ok) {  // the refused block starts where it starts in one read (or at that LF)
      end = whole_end = 0;
      for (const auto& b : p->blocks) end += b.raw.size();
      for (const auto& b : whole.blocks) whole_end += b.raw.size();
      check(end == whole_end || end + 1 == whole_end);
    }
  }
  for (const auto& b : whole.blocks) check_serialized(b);
  return 0;
}
