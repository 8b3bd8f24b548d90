// Issuing the two certificates an MCP tunnel needs, with exactly the properties of
// Anthropic's "Certificate requirements" (and of its setup component's defaults):
//   CA:     ECDSA P-256, 5 years, basicConstraints=critical,CA:TRUE,
//           keyUsage=critical,keyCertSign,cRLSign, subjectKeyIdentifier=hash
//   server: RSA 4096, 90 days, CN=domain, SAN DNS:domain + DNS:*.domain, signed directly
//           by the CA, authorityKeyIdentifier = the CA's subjectKeyIdentifier,
//           extendedKeyUsage=serverAuth
// Everything is SHA-256 signed and carries a random 128-bit positive serial.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "pki/key.hpp"

namespace mcpgate::pki {

// Issued material as PEM text; nothing is written to disk here (see files.hpp).
struct issued {
  std::string cert_pem;
  std::string key_pem;
  std::vector<std::string> notes;  // things the caller should tell the user
};

struct ca_options {
  key_type key = key_type::ecdsa_p256;
  int days = 1826;
  std::string common_name = "mcp-tunnel-ca";
  std::optional<std::time_t> now;  // issue as of this time (tests); default: the clock
};
issued generate_ca(const ca_options& options);

// A CA certificate and its key, as read from disk; the file names appear in errors.
struct ca_material {
  std::string cert_pem;
  std::string key_pem;
  std::string cert_file = "ca.crt";
  std::string key_file = "ca.key";
};
// Reads DIR/ca.crt and DIR/ca.key (both bounded).
ca_material load_ca_dir(const std::string& dir);

struct server_options {
  std::string domain;  // checked and lower-cased with normalize_domain
  key_type key = key_type::rsa_4096;
  int days = 90;
  std::optional<std::time_t> now;
};
// Throws pki::error when the CA cannot issue: key and certificate do not match, it is not
// a CA, it has no subjectKeyIdentifier (the server certificate's AKI must equal it) or it
// has expired. When the CA expires before `days` have passed, the certificate ends with
// the CA and a note says so.
issued issue_server_cert(const ca_material& ca, const server_options& options);

}  // namespace mcpgate::pki
