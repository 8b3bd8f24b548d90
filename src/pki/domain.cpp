#include "pki/domain.hpp"

#include <algorithm>
#include <cctype>

#include "pki/error.hpp"
#include "pki/text.hpp"

namespace mcpgate::pki {
namespace {

bool label_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-'; }

[[noreturn]] void refuse(std::string_view text, const std::string& why) {
  throw error("", "invalid domain \"" + printable(text) + "\": " + why);
}

}  // namespace

std::string normalize_domain(std::string_view text) {
  if (text.empty()) refuse(text, "empty (expected a DNS name, e.g. abcd1234.tunnel.anthropic.com)");
  if (text.size() > 253) refuse(text, "longer than 253 characters");
  if (text.find('*') != std::string_view::npos) {
    refuse(text, "give the domain without a wildcard; the certificate covers the domain and *.domain");
  }
  if (text.back() == '.') refuse(text, "remove the trailing dot");
  if (text.front() == '.') refuse(text, "remove the leading dot");

  std::string out;
  out.reserve(text.size());
  std::size_t labels = 0;
  bool all_numeric = true;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t dot = std::min(text.find('.', start), text.size());
    const std::string_view label = text.substr(start, dot - start);
    if (label.empty()) refuse(text, "empty label (two dots in a row)");
    if (label.size() > 63) refuse(text, "label \"" + printable(label) + "\" is longer than 63 characters");
    for (char c : label) {
      if (!label_char(c)) {
        refuse(text, "character \"" + printable(std::string_view(&c, 1)) +
                         "\" is not allowed (letters, digits, '-' and '.' only)");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      refuse(text, "label \"" + printable(label) + "\" starts or ends with '-'");
    }
    for (char c : label) {
      all_numeric = all_numeric && std::isdigit(static_cast<unsigned char>(c)) != 0;
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    ++labels;
    if (dot == text.size()) break;
    out.push_back('.');
    start = dot + 1;
  }
  if (labels < 2) refuse(text, "needs at least two labels (a wildcard certificate over a single label is refused by TLS clients)");
  if (all_numeric) refuse(text, "an IP address is not a domain");
  return out;
}

}  // namespace mcpgate::pki
