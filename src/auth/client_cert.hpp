// The client certificate of an mTLS connection, as names policy can match.
#pragma once

#include <optional>
#include <string>
#include <vector>

typedef struct ssl_st SSL;

namespace mcpgate::auth {

struct client_certificate {
  std::string subject_cn;
  std::vector<std::string> names;  // subjectAltName DNS, email and URI entries, then the subject CN
};

// The certificate the peer sent and OpenSSL verified against the listener's
// tls.client_ca_file; nullopt when there is none (or it did not verify, which a listener
// with client_ca_file never lets through the handshake anyway).
std::optional<client_certificate> verified_client_certificate(SSL* ssl);

}  // namespace mcpgate::auth
