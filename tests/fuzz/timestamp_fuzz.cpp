// Fuzz target for config timestamps (ip_sets window bounds): any text either fails with a
// reason or gives an instant that survives printing and parsing again unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/units.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcpgate::config;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  const auto t = parse_timestamp(text, &why);
  if (!t) {
    if (why.empty()) __builtin_trap();
    return 0;
  }
  const auto again = parse_timestamp(format_timestamp(*t));
  if (!again || *again != std::chrono::floor<std::chrono::seconds>(*t)) __builtin_trap();
  return 0;
}
