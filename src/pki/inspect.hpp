// Checking certificates against the tunnel's documented requirements, one result per
// requirement, so that `certs inspect`, `doctor` and `init` report the same thing in the
// same words. Input is untrusted: any bytes give results, never a crash or an exception.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::pki {

enum class check_status { pass, warn, fail };
const char* to_string(check_status status);  // "PASS", "WARN", "FAIL"

struct check_result {
  std::string name;    // stable: "basicConstraints", "validity", "subjectAltName", ...
  check_status status = check_status::pass;
  std::string detail;  // what was found
  std::string fix;     // what to do about it (empty on PASS)
};

bool any_fail(const std::vector<check_result>& results);
// "PASS name: detail" lines, each non-PASS followed by "  fix: ...".
std::string format_checks(const std::vector<check_result>& results);

// The tunnel's limit on an uploaded CA certificate.
inline constexpr std::size_t max_ca_upload_bytes = 8192;
// Certificates closer than this to their end are a WARN.
inline constexpr long long expiry_warning_seconds = 30LL * 86400;

struct inspect_options {
  // The tunnel domain: the server certificate's SAN must cover <route>.<domain>, i.e.
  // contain *.<domain> (or, when a full host name is given, cover that name).
  std::string domain;
  // Full host names that must each be covered (doctor: one per route).
  std::vector<std::string> hostnames;
  std::optional<std::time_t> now;  // default: the clock
};

enum class cert_kind { none, ca, server };
// ca: basicConstraints CA:TRUE, or self-issued without basicConstraints (a CA made without
// the extension, which inspect_ca then reports); server: any other certificate; none: no
// certificate in the text.
cert_kind classify(std::string_view pem);

// The CA requirements: one PEM certificate block, at most 8 KiB, no private key in the
// file, basicConstraints critical CA:TRUE, subjectKeyIdentifier, keyUsage keyCertSign,
// validity, RSA >= 2048 / ECDSA >= P-256, SHA-256 or stronger signature.
std::vector<check_result> inspect_ca(std::string_view pem, const inspect_options& options = {});

// The server requirements: signed directly by the CA of `ca_pem` (not checked, with a WARN,
// when it is empty), authorityKeyIdentifier == the CA's subjectKeyIdentifier, SAN coverage
// (when options name a domain or hosts), extendedKeyUsage serverAuth when present,
// keyUsage digitalSignature when present, validity, key and signature strength.
std::vector<check_result> inspect_server(std::string_view pem, std::string_view ca_pem,
                                         const inspect_options& options = {});

}  // namespace mcpgate::pki
