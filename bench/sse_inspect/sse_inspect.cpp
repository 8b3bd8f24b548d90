// What watching an SSE answer costs (the audit log reads every event of an MCP route's
// SSE answers as they pass): a 10 MB stream of MCP progress notifications and a final
// answer, fed in 16 KiB reads, through
//   1. a copy of each read (the floor: what relaying touches anyway),
//   2. mcp::sse_reader alone (line splitting, fields),
//   3. mcp::answer_watch (the reader + a JSON parse of events that carry an id), what the gateway runs.
//
//   cmake --build build --target sse_inspect && build/bench/sse_inspect/sse_inspect
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "mcp/answers.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/sse.hpp"

using namespace mcpgate;
using clock_type = std::chrono::steady_clock;

namespace {

std::string make_stream(std::size_t bytes, std::size_t& events) {
  std::string out;
  events = 0;
  while (out.size() < bytes) {
    out += "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
           "{\"progressToken\":\"t-1\",\"progress\":" + std::to_string(events) + ",\"total\":100000,\"message\":\"working on it\"}}\n\n";
    ++events;
  }
  out += "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"done\"}]}}\n\n";
  return out;
}

template <class Feed>
double mb_per_second(const std::string& stream, Feed&& feed) {
  constexpr std::size_t read_size = 16 * 1024;
  constexpr int rounds = 5;
  const auto start = clock_type::now();
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t at = 0; at < stream.size(); at += read_size) feed(std::string_view(stream).substr(at, read_size));
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  return static_cast<double>(stream.size()) * rounds / seconds / 1e6;
}

}  // namespace

int main() {
  std::size_t events = 0;
  const auto stream = make_stream(10 * 1000 * 1000, events);
  std::vector<char> sink(16 * 1024);
  const double copy = mb_per_second(stream, [&](std::string_view piece) { std::memcpy(sink.data(), piece.data(), piece.size()); });
  std::size_t seen = 0;
  mcp::sse_reader reader;
  const double reading = mb_per_second(stream, [&](std::string_view piece) {
    reader.feed(piece, [&](const mcp::sse_event&) { ++seen; });
  });
  const auto request = mcp::inspect_request(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow"}})");
  bool answered = false;
  const double watching = mb_per_second(stream, [&](std::string_view piece) {
    static std::optional<mcp::answer_watch> watch;
    if (piece.data() == stream.data()) watch.emplace(request, true);  // a new stream each round
    watch->feed(piece);
    answered = watch->answer_for("7") != nullptr;
  });
  std::printf("| 10 MB SSE answer, %zu events of ~%zu B, 16 KiB reads | MB/s |\n", events, stream.size() / events);
  std::printf("| copy (floor) | %.0f |\n| sse_reader | %.0f |\n| answer_watch (reader + JSON of events with an id) | %.0f |\n", copy,
              reading, watching);
  std::printf("answer seen: %s; events read: %zu\n", answered ? "yes" : "NO", seen);
  return answered ? 0 : 1;
}
