// Fuzz target for the connector/edge handshake messages (the first bytes an edge reads from
// anyone who completes TLS on its connector port, and what a connector reads back): no
// crash on any input; every refusal says why; whatever decodes encodes and decodes again to
// the same fields.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tunnel/handshake.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcpgate::tunnel;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (auto hello = decode_hello(text, error)) {
    std::string again_error;
    const auto again = decode_hello(encode_hello(*hello), again_error);
    if (!again || again->tunnel_id != hello->tunnel_id || again->version != hello->version ||
        again->proof != hello->proof || again->connector != hello->connector || again->connection != hello->connection) {
      __builtin_trap();
    }
  } else if (error.empty()) {
    __builtin_trap();
  }
  error.clear();
  if (auto verdict = decode_verdict(text, error)) {
    std::string again_error;
    const auto again = decode_verdict(encode_verdict(*verdict), again_error);
    if (!again || again->result != verdict->result || again->message != verdict->message ||
        again->domain != verdict->domain) {
      __builtin_trap();
    }
  } else if (error.empty()) {
    __builtin_trap();
  }
  return 0;
}
