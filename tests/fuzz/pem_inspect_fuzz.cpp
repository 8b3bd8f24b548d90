// Fuzz target for the certificate checks of `certs inspect` / `doctor` (input from files a
// user points at: anything): the bytes before the first NUL are checked as a CA and as a
// server certificate, the bytes after it serve as the CA. Whatever the input, every check
// has a name and a detail, every non-PASS a fix, and nothing throws or crashes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pki/domain.hpp"
#include "pki/error.hpp"
#include "pki/inspect.hpp"
#include "pki/pem.hpp"

namespace {

void check_results(const std::vector<mcpgate::pki::check_result>& results) {
  if (results.empty()) __builtin_trap();
  for (const auto& r : results) {
    if (r.name.empty() || r.detail.empty()) __builtin_trap();
    if (r.status != mcpgate::pki::check_status::pass && r.fix.empty()) __builtin_trap();
    for (char c : r.detail) {
      // Certificate text reaches a terminal only escaped.
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcpgate::pki;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view pem = input.substr(0, nul);
  const std::string_view ca = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

  const pem_scan scan = scan_pem(pem);
  if (scan.blocks.size() > pem_scan::max_blocks || scan.blocks.size() > scan.block_count) __builtin_trap();
  for (const auto& b : scan.blocks) {
    if (b.text.substr(0, 11) != "-----BEGIN " || b.label.empty()) __builtin_trap();
  }

  (void)classify(pem);
  check_results(inspect_ca(pem));
  inspect_options options;
  options.domain = "example.test";
  options.hostnames = {"echo.example.test"};
  check_results(inspect_server(pem, ca, options));
  check_results(inspect_server(pem, pem, {}));

  const std::string_view first_line = pem.substr(0, std::min(pem.find('\n'), pem.size()));
  try {
    const std::string domain = normalize_domain(first_line);
    if (domain.size() != first_line.size() || domain.empty()) __builtin_trap();
  } catch (const error&) {
  }
  return 0;
}
