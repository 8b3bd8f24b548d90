// A throwaway PKI made at test time (never checked in): an ECDSA P-256 CA and a server
// certificate and a client certificate signed by it, written as PEM files into a fresh
// temporary directory.
#pragma once

#include <string>
#include <vector>

namespace mcpgate::test {

struct test_pki {
  // `dns_names` and `ip_addresses` become the server certificate's subjectAltName.
  explicit test_pki(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses = {});
  ~test_pki();

  std::string dir;
  std::string ca_cert;      // PEM paths
  std::string server_cert;
  std::string server_key;
  std::string client_cert;  // CN and DNS SAN alice.clients.test, extendedKeyUsage clientAuth
  std::string client_key;
};

// A fresh temporary directory, removed by the caller (test_pki removes its own).
std::string make_temp_dir(const std::string& prefix);
// Writes a file and returns its path.
std::string write_file(const std::string& path, const std::string& content);

}  // namespace mcpgate::test
