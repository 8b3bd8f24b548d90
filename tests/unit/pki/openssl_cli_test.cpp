// Cross-check with the real openssl CLI: what mcpgate issues is what the documented
// openssl recipe would produce, as openssl itself reads it.
#include <gtest/gtest.h>

#include <string>

#include "pki/files.hpp"
#include "pki/issue.hpp"
#include "pki_test_util.hpp"

namespace mcpgate::pki {
namespace {

using testing::run_command;
using testing::scratch_dir;

bool has_openssl() { return run_command("openssl version").status == 0; }

// The line after "X509v3 <name>:", trimmed and without "keyid:": the SKI or AKI key id.
std::string key_id_line(const std::string& text, const std::string& name) {
  const auto header = text.find("X509v3 " + name + ":");
  const auto start = header == std::string::npos ? header : text.find('\n', header);
  if (start == std::string::npos) return "(missing " + name + ")";
  std::string line = text.substr(start + 1, text.find('\n', start + 1) - start - 1);
  line.erase(0, line.find_first_not_of(' '));
  if (line.rfind("keyid:", 0) == 0) line.erase(0, 6);
  return line;
}

TEST(PkiOpensslCli, VerifiesAndReadsWhatWeIssue) {
  if (!has_openssl()) GTEST_SKIP() << "openssl CLI not installed";
  scratch_dir dir;
  const issued ca = generate_ca({});
  server_options options;
  options.domain = "example.test";
  const issued server = issue_server_cert(testing::as_material(ca), options);  // default RSA 4096
  write_cert_file(dir / "ca.crt", ca.cert_pem);
  write_key_file(dir / "ca.key", ca.key_pem);
  write_cert_file(dir / "tls.crt", server.cert_pem);
  write_key_file(dir / "tls.key", server.key_pem);

  const auto verify = run_command("openssl verify -CAfile " + (dir / "ca.crt") + " " + (dir / "tls.crt"));
  EXPECT_EQ(verify.status, 0) << verify.output;
  EXPECT_EQ(verify.output, (dir / "tls.crt") + ": OK\n");

  const auto for_host = run_command("openssl verify -purpose sslserver -verify_hostname echo.example.test -CAfile " +
                                    (dir / "ca.crt") + " " + (dir / "tls.crt"));
  EXPECT_EQ(for_host.status, 0) << for_host.output;
  const auto wrong_host = run_command("openssl verify -verify_hostname echo.other.test -CAfile " + (dir / "ca.crt") +
                                      " " + (dir / "tls.crt"));
  EXPECT_NE(wrong_host.status, 0) << wrong_host.output;

  const auto ca_text = run_command("openssl x509 -in " + (dir / "ca.crt") + " -text -noout");
  ASSERT_EQ(ca_text.status, 0) << ca_text.output;
  const std::string& c = ca_text.output;
  EXPECT_NE(c.find("X509v3 Basic Constraints: critical\n                CA:TRUE"), std::string::npos) << c;
  EXPECT_NE(c.find("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"), std::string::npos) << c;
  EXPECT_NE(c.find("X509v3 Subject Key Identifier:"), std::string::npos) << c;
  EXPECT_NE(c.find("Signature Algorithm: ecdsa-with-SHA256"), std::string::npos) << c;
  EXPECT_NE(c.find("ASN1 OID: prime256v1"), std::string::npos) << c;
  EXPECT_NE(c.find("Subject: CN = mcp-tunnel-ca"), std::string::npos) << c;

  const auto server_text = run_command("openssl x509 -in " + (dir / "tls.crt") + " -text -noout");
  ASSERT_EQ(server_text.status, 0) << server_text.output;
  const std::string& s = server_text.output;
  EXPECT_NE(s.find("DNS:example.test, DNS:*.example.test"), std::string::npos) << s;
  EXPECT_NE(s.find("X509v3 Extended Key Usage: \n                TLS Web Server Authentication\n"), std::string::npos) << s;
  EXPECT_NE(s.find("X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment"), std::string::npos) << s;
  EXPECT_NE(s.find("CA:FALSE"), std::string::npos) << s;
  EXPECT_NE(s.find("Public-Key: (4096 bit)"), std::string::npos) << s;
  EXPECT_NE(s.find("Subject: CN = example.test"), std::string::npos) << s;
  EXPECT_NE(s.find("Issuer: CN = mcp-tunnel-ca"), std::string::npos) << s;
  // authorityKeyIdentifier (keyid) is the CA's subjectKeyIdentifier.
  EXPECT_EQ(key_id_line(s, "Authority Key Identifier"), key_id_line(c, "Subject Key Identifier"));

  // openssl reads the key files, and each key is its certificate's.
  for (const auto& [crt, key] : {std::pair{"ca.crt", "ca.key"}, std::pair{"tls.crt", "tls.key"}}) {
    const auto from_key = run_command("openssl pkey -in " + (dir / key) + " -pubout");
    const auto from_cert = run_command("openssl x509 -in " + (dir / crt) + " -pubkey -noout");
    ASSERT_EQ(from_key.status, 0) << from_key.output;
    EXPECT_EQ(from_key.output, from_cert.output) << key;
    EXPECT_EQ(run_command("openssl pkey -check -noout -in " + (dir / key)).status, 0) << key;
  }
}

}  // namespace
}  // namespace mcpgate::pki
