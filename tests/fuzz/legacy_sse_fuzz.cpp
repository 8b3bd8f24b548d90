// Fuzz target for the legacy SSE endpoint rewrite behind a stripped prefix
// (mcp::rewrite_endpoint, mcp::endpoint_rewriter):
// - rewrite_endpoint() of any text either leaves it or gives "<prefix>/..." on one line,
//   without spaces or control characters;
// - the rewriter's output does not depend on how the stream is split into reads (also
//   inside the CRLF that closes a rewritten event), with or without an event past the bound;
// - a stream without rewritten events comes out byte for byte;
// - the output carries the same events as the input, endpoint URLs rewritten.
//
// Input: 3 control bytes, then the stream (also tried whole as an endpoint URL).
//   [0] the longest read (1 + [0] % 64 bytes) and, with [1], the seed of the read sizes
//   [1] < 128: no bound; else a bound of ([1] - 128) * 2 bytes
//   [2] the prefix and upstream (see `mounts`)
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mcp/legacy_sse.hpp"

namespace {

using mcpgate::mcp::endpoint_rewriter;
using mcpgate::mcp::rewrite_endpoint;
using mcpgate::mcp::sse_parser;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

mcpgate::config::upstream_target target(const char* scheme, const char* host, std::uint16_t port) {
  mcpgate::config::upstream_target u;
  u.scheme = scheme;
  u.host = host;
  u.port = port;
  return u;
}

struct mount {
  std::string_view prefix;
  mcpgate::config::upstream_target upstream;
};

const mount mounts[] = {
    {"/everything", target("http", "10.0.0.5", 3001)},
    {"/a/b", target("https", "mcp.internal", 443)},
    {"/x", target("http", "fd00::5", 80)},
    {"/", target("http", "127.0.0.1", 3001)},
};

std::string relay(std::string_view stream, const std::vector<std::size_t>& sizes, const mount& m, std::size_t max,
                  std::size_t* rewritten = nullptr) {
  endpoint_rewriter rewriter(m.prefix, m.upstream, max);
  std::string out;
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    const auto n = std::min(sizes[i % sizes.size()], stream.size() - at);
    // Its own copy, gone after the call: the rewriter must not keep pointers into a read.
    const std::string read(stream.substr(at, n));
    at += n;
    out += rewriter.feed(read, at == stream.size());
  }
  if (stream.empty()) out += rewriter.feed({}, true);
  if (rewritten) *rewritten = rewriter.rewritten();
  return out;
}

struct event {
  std::string type, data;
  std::optional<std::string> id;
};

std::vector<event> events_of(std::string_view stream) {
  sse_parser parser(std::size_t{1} << 30);
  check(parser.feed(stream));
  std::vector<event> out;
  while (auto e = parser.next()) {
    if (e->has_data) out.push_back({e->type, e->data, e->id});
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 3), size - 3);
  const std::size_t longest = 1 + data[0] % 64;
  const std::size_t max = data[1] < 128 ? std::size_t{1} << 20 : static_cast<std::size_t>(data[1] - 128) * 2;
  const mount& m = mounts[data[2] % std::size(mounts)];

  if (auto url = rewrite_endpoint(stream, m.prefix, m.upstream)) {
    check(m.prefix != "/" && url->starts_with(m.prefix) && url->size() > m.prefix.size() &&
          (*url)[m.prefix.size()] == '/');
    for (const char c : *url) check(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
  }

  std::vector<std::size_t> sizes;
  std::uint32_t seed = (data[0] << 8 | data[1]) * 2654435761u + 1;
  for (int i = 0; i < 16; ++i) {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    sizes.push_back(1 + seed % longest);
  }
  std::size_t rewritten = 0;
  const auto whole = relay(stream, {stream.size() + 1}, m, max, &rewritten);
  check(relay(stream, sizes, m, max) == whole);
  check(relay(stream, {1}, m, max) == whole);
  if (rewritten == 0) check(whole == stream);

  // Without a bound in the way: the same events, endpoint URLs rewritten.
  const auto unbounded = relay(stream, {stream.size() + 1}, m, std::size_t{1} << 30);
  auto expected = events_of(stream);
  for (auto& e : expected) {
    if (e.type != "endpoint") continue;
    if (auto url = rewrite_endpoint(e.data, m.prefix, m.upstream)) e.data = *url;
  }
  const auto got = events_of(unbounded);
  check(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    check(got[i].type == expected[i].type && got[i].data == expected[i].data && got[i].id == expected[i].id);
  }
  return 0;
}
