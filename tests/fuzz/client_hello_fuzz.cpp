// Fuzz target for the edge's ClientHello peek (the first bytes of every public
// connection): no crash on any input; a complete result never reads past its input; every
// prefix of an accepted input is need_more (the edge may decide only once it has it all);
// names come out lower case and DNS-shaped.
#include <cstddef>
#include <cstdint>
#include <span>

#include "tunnel/client_hello.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcpgate::tunnel;
  const std::span<const std::uint8_t> bytes(data, size);
  const auto r = parse_client_hello(bytes, 4096);
  if (r.status == hello_status::ok) {
    if (r.consumed == 0 || r.consumed > size) __builtin_trap();
    for (std::size_t cut = 0; cut < r.consumed; cut += 1 + cut / 8) {
      if (parse_client_hello(bytes.first(cut), 4096).status != hello_status::need_more) __builtin_trap();
    }
    for (char c : r.info.server_name) {
      if (c >= 'A' && c <= 'Z') __builtin_trap();
    }
  } else if (r.status != hello_status::need_more && r.error.empty()) {
    __builtin_trap();  // every refusal says why
  }
  return 0;
}
