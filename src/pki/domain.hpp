// The tunnel domain a server certificate is issued for.
#pragma once

#include <string>
#include <string_view>

namespace mcpgate::pki {

// Checks that `text` is a DNS name a tunnel can use and returns it in lower case:
// at least two labels (a wildcard over a single label is refused by TLS clients), labels
// of letters, digits and '-' (not at either end), at most 63 bytes each and 253 in all,
// not all-numeric (an IP address is not a domain). A wildcard ("*.d") or a trailing dot
// is refused with a message saying to drop it. Throws pki::error naming the input.
std::string normalize_domain(std::string_view text);

}  // namespace mcpgate::pki
