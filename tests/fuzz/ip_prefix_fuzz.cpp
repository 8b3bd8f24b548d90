// Fuzz target for IP prefix parsing and set lookup (upstream.allowed_ips today, client
// allowlists later): any text parses or is refused with a reason, never crashes; what
// parses prints back to something that parses to the same prefix, and a set built from
// prefixes contains exactly the addresses one of them contains.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/ip_prefix.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcpgate::net;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::vector<ip_prefix> prefixes;
  std::size_t start = 0;
  while (start <= text.size() && prefixes.size() < 64) {
    const auto end = std::min(text.find('\n', start), text.size());
    std::string error;
    if (auto p = ip_prefix::parse(text.substr(start, end - start), &error)) {
      const auto again = ip_prefix::parse(p->to_string());
      if (!again || !(*again == *p)) __builtin_trap();
      prefixes.push_back(*p);
    } else if (error.empty()) {
      __builtin_trap();  // every refusal says why
    }
    start = end + 1;
  }

  const ip_prefix_set set(prefixes);
  // Probe with the prefixes' own network addresses and with the raw input bytes.
  std::vector<ip_bytes> probes;
  for (const auto& p : prefixes) probes.push_back(p.network());
  ip_bytes raw{};
  for (std::size_t i = 0; i < raw.size() && i < size; ++i) raw[i] = data[i];
  probes.push_back(raw);
  for (const auto& address : probes) {
    bool any = false;
    for (const auto& p : prefixes) any = any || p.contains(address);
    if (set.contains(address) != any) __builtin_trap();
  }
  return 0;
}
