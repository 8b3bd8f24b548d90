// Reading certificates out of PEM text that may be anything: a bundle, a key pasted in by
// mistake, DER, or garbage. Every function here is bounded and never trusts the input.
#pragma once

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "pki/ossl.hpp"

namespace mcpgate::pki {

// Files larger than this are not certificate files; readers refuse them before parsing.
inline constexpr std::size_t max_pem_file_bytes = 1024 * 1024;

struct pem_block {
  std::string label;      // "CERTIFICATE", "PRIVATE KEY", ...
  std::string_view text;  // the whole block, BEGIN line to END line (into the scanned input)
};

struct pem_scan {
  static constexpr std::size_t max_blocks = 64;
  std::vector<pem_block> blocks;  // the first max_blocks blocks
  std::size_t block_count = 0;    // every complete block, also those past max_blocks
  bool unterminated = false;      // a BEGIN line without its END line
  bool text_outside = false;      // non-blank text outside the blocks

  std::size_t count(std::string_view label) const;
  // Any block whose label names a private key (PRIVATE KEY, RSA/EC/ENCRYPTED PRIVATE KEY...).
  bool has_private_key() const;
};

// Splits `text` into PEM blocks at "-----BEGIN X-----" / "-----END X-----" lines.
pem_scan scan_pem(std::string_view text);

// DER-encoded input (starts with an ASN.1 SEQUENCE), to say "convert to PEM" instead of
// "no certificate".
bool looks_like_der(std::string_view data);

// The certificate in one PEM block (or the first CERTIFICATE block of `pem`). Throws
// pki::error naming `file` when there is none or it does not parse.
x509_ptr parse_certificate(std::string_view pem, const std::string& file);
std::string certificate_pem(X509* cert);

// Seconds from `now` until notAfter of the first certificate of `pem` (negative once
// expired). Throws pki::error when there is no certificate.
long long seconds_left(std::string_view pem, std::time_t now = std::time(nullptr));
long long seconds_until(const ASN1_TIME* when, std::time_t now);

// "2031-05-01 12:00:00 UTC"; "(unreadable time)" when malformed.
std::string format_time(const ASN1_TIME* when);
// "63d 4h", "5h 12m", "40s", "expired 3d 2h ago".
std::string format_remaining(long long seconds);

// "CN=mcp-tunnel-ca,O=..." (RFC 2253), printable.
std::string name_of(const X509_NAME* name);
// The DNS names of subjectAltName, printable, in certificate order (at most 256).
std::vector<std::string> dns_names(X509* cert);
// The subject's first commonName, printable; "" when there is none.
std::string common_name(X509* cert);
// Lower-case hex SHA-256 of the DER encoding, as the Tunnels API shows it.
std::string sha256_fingerprint(X509* cert);

}  // namespace mcpgate::pki
