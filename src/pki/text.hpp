// Text from certificates and files is untrusted: it is made safe to print before it
// reaches a terminal or a log.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mcpgate::pki {

// Printable ASCII as is, every other byte as \xNN; cut at `max` output bytes with "...".
std::string printable(std::string_view text, std::size_t max = 256);

// "ab:cd:ef" (lower-case hex, `separator` between bytes; none when '\0').
std::string hex(const unsigned char* data, std::size_t size, char separator = ':');

}  // namespace mcpgate::pki
