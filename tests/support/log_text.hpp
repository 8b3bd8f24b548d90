// Checks on log text without std::regex (which g++ 12 warns about falsely in the ASan build).
#pragma once

#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::test {

// "2026-12-04T22:00:00.123Z": the log's UTC timestamp with milliseconds.
inline bool is_utc_millis(std::string_view text) {
  constexpr std::string_view shape = "NNNN-NN-NNTNN:NN:NN.NNNZ";
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool digit = std::isdigit(static_cast<unsigned char>(text[i])) != 0;
    if (shape[i] == 'N' ? !digit : text[i] != shape[i]) return false;
  }
  return true;
}

// The port in "<prefix><digits>" somewhere in `text`, if there.
inline std::optional<unsigned> port_after(std::string_view text, std::string_view prefix) {
  const auto at = text.find(prefix);
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t i = at + prefix.size();
  unsigned port = 0;
  std::size_t digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && digits < 5) {
    port = port * 10 + static_cast<unsigned>(text[i] - '0');
    ++i;
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return port;
}

}  // namespace mcpgate::test
