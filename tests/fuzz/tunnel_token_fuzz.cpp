// Fuzz target for tunnel token parsing (what a connector reads from its --token-file): no
// crash on any input; an accepted token has one spelling (formatting it gives back the input
// without its surrounding whitespace); every refusal says why and never quotes the secret.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tunnel/token.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcpgate::tunnel;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto token = parse_token(text, &error);
  if (token) {
    std::string_view trimmed = text;
    const auto first = trimmed.find_first_not_of(" \t\r\n");
    trimmed = trimmed.substr(first, trimmed.find_last_not_of(" \t\r\n") - first + 1);
    if (format_token(*token) != trimmed || token->version == 0) __builtin_trap();
    return 0;
  }
  if (error.empty()) __builtin_trap();  // every refusal says why
  // What would be the secret (after the third '_'): when its first 12 characters look like
  // one (base64url; no message holds such a run), the error must not contain them.
  std::size_t at = std::string_view::npos;
  for (std::size_t i = 0, from = 0; i < 3; ++i, from = at + 1) {
    if ((at = text.find('_', from)) == std::string_view::npos) return 0;
  }
  const auto secret = text.substr(at + 1, 12);
  if (secret.size() < 12) return 0;
  for (char c : secret) {
    const bool b64url = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!b64url) return 0;
  }
  if (error.find(secret) != std::string::npos) __builtin_trap();
  return 0;
}
