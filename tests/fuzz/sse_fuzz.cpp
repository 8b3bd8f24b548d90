// Fuzz target for the SSE reader that watches upstream event streams: any split of the
// same bytes gives the same events (reads split anywhere, also inside a CRLF or a BOM),
// events respect the size bound, and nothing crashes.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "mcp/sse.hpp"

namespace {

struct seen {
  std::string type, data;
  std::optional<std::string> id;
  std::optional<std::uint64_t> retry;
  bool oversized;
  bool operator==(const seen&) const = default;
};

std::vector<seen> read(std::string_view stream, std::size_t piece, std::size_t max) {
  mcpgate::mcp::sse_reader reader(max);
  std::vector<seen> out;
  auto keep = [&](const mcpgate::mcp::sse_event& e) {
    if (!e.oversized && e.data.size() > max) __builtin_trap();
    out.push_back({e.type, e.data, e.id, e.retry, e.oversized});
  };
  for (std::size_t at = 0; at < stream.size(); at += piece) reader.feed(stream.substr(at, piece), keep);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 17;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr std::size_t max = 1 << 20;  // above any input: no event is cut, so all splits agree
  const auto whole = read(stream, stream.size() + 1, max);
  if (read(stream, piece, max) != whole) __builtin_trap();
  if (read(stream, 1, max) != whole) __builtin_trap();
  (void)read(stream, piece, 32);  // a small bound: only must not crash or exceed it
  return 0;
}
