#include "pki/text.hpp"

namespace mcpgate::pki {

std::string printable(std::string_view text, std::size_t max) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (char ch : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(ch);
    } else {
      out += "\\x";
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0xf]);
    }
  }
  return out;
}

std::string hex(const unsigned char* data, std::size_t size, char separator) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 3);
  for (std::size_t i = 0; i < size; ++i) {
    if (i != 0 && separator != '\0') out.push_back(separator);
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 0xf]);
  }
  return out;
}

}  // namespace mcpgate::pki
