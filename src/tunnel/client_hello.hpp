// What the edge reads of a client's first bytes before it knows where they go: the TLS
// ClientHello's server name (SNI) and offered ALPN protocols. The edge never terminates the
// client's TLS; it peeks, routes by name, and forwards the same bytes unmodified.
//
// The parser works on what has arrived so far: `need_more` until the whole ClientHello is
// there (it may span several TLS records), bounded by `max_bytes` so a client cannot make
// the edge buffer without end. Everything is validated as it is read: lengths must nest,
// names must be DNS host names (lower-cased, trailing dot dropped). No allocation beyond the
// result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mcpgate::tunnel {

enum class hello_status {
  need_more,  // a prefix of a valid ClientHello: read more (within max_bytes)
  ok,         // complete; `info` is filled
  not_tls,    // the first bytes are not a TLS handshake record (plain HTTP, garbage)
  malformed,  // a TLS handshake that breaks the format
  too_large,  // no complete ClientHello within max_bytes
};

struct client_hello_info {
  std::string server_name;         // "" when the client sent no SNI (IP literal, old client)
  std::vector<std::string> alpn;   // offered protocols, in the client's order
  std::uint16_t client_version = 0;  // legacy_version field (0x0303 for TLS 1.2 and 1.3)
};

struct client_hello_result {
  hello_status status = hello_status::need_more;
  client_hello_info info;
  std::string error;           // for malformed / not_tls: what was wrong (for the log)
  std::size_t consumed = 0;    // ok: bytes of the records holding the ClientHello
};

constexpr std::size_t default_max_client_hello_bytes = 16 * 1024;

client_hello_result parse_client_hello(std::span<const std::uint8_t> bytes,
                                       std::size_t max_bytes = default_max_client_hello_bytes);

// Whether `name` is `domain` or a name under it (label boundary: "a.example.com" is under
// "example.com", "badexample.com" is not). Both lower case.
bool name_is_under(std::string_view name, std::string_view domain);

}  // namespace mcpgate::tunnel
