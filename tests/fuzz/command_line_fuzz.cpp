// Fuzz target for splitting `upstream: stdio:<command line>` into argv: any text is split
// or refused with a reason, never crashes; and the words, quoted back ('...' with '\''
// for a quote), split again to exactly the same words.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/command_line.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mcpgate::config::split_command_line;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  const auto words = split_command_line(text, &why);
  if (!words) {
    if (why.empty()) __builtin_trap();  // every refusal says why
    return 0;
  }
  if (words->empty()) __builtin_trap();
  std::string quoted;
  for (const auto& w : *words) {
    quoted += '\'';
    for (char c : w) {
      if (c == '\'') quoted += "'\\''";
      else quoted += c;
    }
    quoted += "' ";
  }
  const auto again = split_command_line(quoted, &why);
  if (!again || *again != *words) __builtin_trap();
  return 0;
}
