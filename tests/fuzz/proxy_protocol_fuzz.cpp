// Fuzz target for the PROXY protocol header parser (the first bytes of every connection on
// a `proxy_protocol: true` listener): never reads past the input, never claims a header
// longer than the input or than the limit.
#include <cstddef>
#include <cstdint>

#include "net/proxy_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcpgate::net;
  const auto r = parse_proxy_header({data, size});
  if (r.state == proxy_header_result::status::complete) {
    if (r.length == 0 || r.length > size || r.length > max_proxy_header) __builtin_trap();
  }
  if (r.state == proxy_header_result::status::invalid && r.error.empty()) __builtin_trap();
  return 0;
}
