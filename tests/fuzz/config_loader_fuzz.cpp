// Fuzz target for the config loader: any bytes must give diagnostics or a snapshot, never
// a crash, a hang or an exception (the loader also runs on reload, inside the gateway).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/loader.hpp"
#include "config/units.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcpgate::config;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const load_result result = load_string(text, "fuzz.yaml");
  // The contract callers rely on: a snapshot exactly when there is no error.
  if (result.ok() != (result.error_count() == 0)) __builtin_trap();
  for (const auto& d : result.diagnostics) {
    if (d.to_string().empty()) __builtin_trap();
  }
  if (result.ok() && summarize(*result.snapshot).empty()) __builtin_trap();

  // The unit parsers see raw user text too; their output must survive a round trip.
  if (size <= 64) {
    if (auto d = parse_duration(text)) {
      const auto again = parse_duration(format_duration(*d));
      if (!again || *again != *d) __builtin_trap();
    }
    if (auto n = parse_size(text)) {
      const auto again = parse_size(format_size(*n));
      if (!again || *again != *n) __builtin_trap();
    }
  }
  return 0;
}
