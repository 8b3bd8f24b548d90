// What `certs ca` / `certs server` issue, read back through the OpenSSL API: every
// extension of the tunnel's certificate requirements, with its criticality.
#include "pki/issue.hpp"

#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <set>

#include "pki/builder.hpp"
#include "pki/error.hpp"
#include "pki/key.hpp"
#include "pki_test_util.hpp"

namespace mcpgate::pki {
namespace {

using testing::as_material;
using testing::make_ca;
using testing::make_server;
using testing::parse;

int criticality(X509* cert, int nid) {
  const int index = X509_get_ext_by_NID(cert, nid, -1);
  if (index < 0) return -1;
  return X509_EXTENSION_get_critical(X509_get_ext(cert, index));
}

std::string curve(const EVP_PKEY* key) { return describe_key(key); }

long long seconds_after_now(const ASN1_TIME* t) { return seconds_until(t, std::time(nullptr)); }

std::string serial_hex(X509* cert) {
  const bignum_ptr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

TEST(PkiIssue, CaHasTheRequiredExtensionsAllCriticalWhereRequired) {
  const issued ca = make_ca();
  const x509_ptr cert = parse(ca.cert_pem);
  X509* c = cert.get();

  const basic_constraints_ptr bc(static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(c, NID_basic_constraints, nullptr, nullptr)));
  ASSERT_TRUE(bc);
  EXPECT_TRUE(bc->ca);
  EXPECT_EQ(criticality(c, NID_basic_constraints), 1);

  EXPECT_EQ(criticality(c, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(c), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));

  // subjectKeyIdentifier=hash: SHA-1 of the public key bits (RFC 5280 method 1).
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(c);
  ASSERT_NE(ski, nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ASSERT_EQ(X509_pubkey_digest(c, EVP_sha1(), md, &len), 1);
  ASSERT_EQ(static_cast<unsigned>(ASN1_STRING_length(ski)), len);
  EXPECT_EQ(std::memcmp(ASN1_STRING_get0_data(ski), md, len), 0);
  EXPECT_EQ(criticality(c, NID_subject_key_identifier), 0);

  EXPECT_EQ(X509_get_ext_count(c), 3) << "only the three extensions of the recipe";
  EXPECT_EQ(curve(X509_get0_pubkey(c)), "EC P-256");
  EXPECT_EQ(X509_get_signature_nid(c), NID_ecdsa_with_SHA256);
  EXPECT_EQ(common_name(c), "mcp-tunnel-ca");
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(c)), 0);
  EXPECT_EQ(X509_verify(c, X509_get0_pubkey(c)), 1);
  EXPECT_EQ(X509_get_version(c), X509_VERSION_3);

  // Five years (1826 days) from now; notBefore a few minutes back for clock skew.
  EXPECT_NEAR(static_cast<double>(seconds_after_now(X509_get0_notAfter(c))), 1826.0 * 86400, 120);
  const long long before = seconds_after_now(X509_get0_notBefore(c));
  EXPECT_LE(before, -250);
  EXPECT_GE(before, -400);

  // The key is PKCS#8, unencrypted, and belongs to the certificate.
  EXPECT_EQ(ca.key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  const pkey_ptr key = load_private_key(ca.key_pem, "ca.key");
  EXPECT_EQ(EVP_PKEY_eq(key.get(), X509_get0_pubkey(c)), 1);
}

TEST(PkiIssue, SerialsAreRandomPositiveAnd16Bytes) {
  std::set<std::string> serials;
  const issued ca = make_ca();
  serials.insert(serial_hex(parse(ca.cert_pem).get()));
  for (int i = 0; i < 8; ++i) {
    const x509_ptr cert = parse(make_server(ca).cert_pem);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
    const bignum_ptr bn(ASN1_INTEGER_to_BN(serial, nullptr));
    EXPECT_FALSE(BN_is_negative(bn.get()));
    EXPECT_FALSE(BN_is_zero(bn.get()));
    EXPECT_EQ(BN_num_bytes(bn.get()), 16);
    EXPECT_LE(BN_num_bits(bn.get()), 127);
    serials.insert(serial_hex(cert.get()));
  }
  EXPECT_EQ(serials.size(), 9u);
}

TEST(PkiIssue, CaOptionsKeyTypeDaysAndCommonName) {
  ca_options options;
  options.key = key_type::rsa_2048;
  options.days = 10;
  options.common_name = "Example Corp tunnel CA";
  const issued ca = generate_ca(options);
  const x509_ptr cert = parse(ca.cert_pem);
  EXPECT_EQ(describe_key(X509_get0_pubkey(cert.get())), "RSA 2048 bits");
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_sha256WithRSAEncryption);
  EXPECT_EQ(common_name(cert.get()), "Example Corp tunnel CA");
  EXPECT_NEAR(static_cast<double>(seconds_after_now(X509_get0_notAfter(cert.get()))), 10.0 * 86400, 120);
}

TEST(PkiIssue, ServerCertificateMeetsTheTunnelRequirements) {
  const issued ca = make_ca();
  const x509_ptr ca_cert = parse(ca.cert_pem);
  const issued server = make_server(ca, "Abcd1234.Tunnel.Example.TEST");
  const x509_ptr cert = parse(server.cert_pem);
  X509* c = cert.get();

  EXPECT_EQ(common_name(c), "abcd1234.tunnel.example.test");
  EXPECT_EQ(dns_names(c), (std::vector<std::string>{"abcd1234.tunnel.example.test", "*.abcd1234.tunnel.example.test"}));

  // Signed directly by the CA: issuer name, signature, and AKI keyid = the CA's SKI.
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(ca_cert.get())), 0);
  EXPECT_EQ(X509_verify(c, X509_get0_pubkey(ca_cert.get())), 1);
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(c);
  ASSERT_NE(aki, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(ca_cert.get())), 0);
  EXPECT_EQ(X509_get0_authority_issuer(c), nullptr) << "keyid only, as the tunnel's check compares";
  EXPECT_EQ(X509_check_issued(ca_cert.get(), c), X509_V_OK);

  EXPECT_EQ(X509_get_extended_key_usage(c), static_cast<std::uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(criticality(c, NID_ext_key_usage), 0);
  EXPECT_EQ(X509_get_key_usage(c), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE)) << "no keyEncipherment for EC";
  EXPECT_EQ(criticality(c, NID_key_usage), 1);
  const basic_constraints_ptr bc(static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(c, NID_basic_constraints, nullptr, nullptr)));
  ASSERT_TRUE(bc);
  EXPECT_FALSE(bc->ca);
  EXPECT_NE(X509_get0_subject_key_id(c), nullptr);
  EXPECT_EQ(X509_get_signature_nid(c), NID_ecdsa_with_SHA256);
  EXPECT_NEAR(static_cast<double>(seconds_after_now(X509_get0_notAfter(c))), 90.0 * 86400, 120);

  // A TLS client's view: the chain verifies for a server purpose, and the wildcard covers
  // exactly one label under the domain.
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca_cert.get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, c, nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(X509_verify_cert(ctx), 1) << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  EXPECT_EQ(X509_check_host(c, "echo.abcd1234.tunnel.example.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(c, "abcd1234.tunnel.example.test", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(c, "a.echo.abcd1234.tunnel.example.test", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(c, "echo.other.example.test", 0, 0, nullptr), 1);

  const pkey_ptr key = load_private_key(server.key_pem, "tls.key");
  EXPECT_EQ(EVP_PKEY_eq(key.get(), X509_get0_pubkey(c)), 1);
  EXPECT_TRUE(server.notes.empty());
}

TEST(PkiIssue, ServerDefaultIsRsa4096WithKeyEncipherment) {
  const issued ca = make_ca();
  server_options options;
  options.domain = "example.test";
  EXPECT_EQ(options.key, key_type::rsa_4096);
  EXPECT_EQ(options.days, 90);
  const x509_ptr cert = parse(issue_server_cert(as_material(ca), options).cert_pem);
  EXPECT_EQ(describe_key(X509_get0_pubkey(cert.get())), "RSA 4096 bits");
  EXPECT_EQ(key_type_of(X509_get0_pubkey(cert.get())), key_type::rsa_4096);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
}

TEST(PkiIssue, RefusesACaThatCannotIssue) {
  const issued ca = make_ca();
  const issued other = make_ca();
  server_options options;
  options.domain = "example.test";
  options.key = key_type::ecdsa_p256;

  ca_material mismatched = as_material(ca);
  mismatched.key_pem = other.key_pem;
  EXPECT_THROW(
      {
        try {
          issue_server_cert(mismatched, options);
        } catch (const error& e) {
          EXPECT_EQ(e.file(), "ca.key");
          EXPECT_STREQ(e.what(), "ca.key: is not the key of ca.crt (a CA certificate and key from different runs?)");
          throw;
        }
      },
      error);

  // A CA made without subjectKeyIdentifier: the server's AKI could not match it.
  const pkey_ptr key = generate_key(key_type::ecdsa_p256);
  const std::time_t now = std::time(nullptr);
  const x509_ptr no_ski = cert_builder()
                              .subject_cn("no-ski")
                              .validity(now - 60, now + 86400 * 400)
                              .public_key(key.get())
                              .extension(NID_basic_constraints, "critical,CA:TRUE")
                              .sign(key.get(), EVP_sha256());
  const ca_material no_ski_ca{certificate_pem(no_ski.get()), private_key_pem(key.get()), "ca.crt", "ca.key"};
  try {
    issue_server_cert(no_ski_ca, options);
    FAIL() << "issued from a CA without subjectKeyIdentifier";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("ca.crt: has no subjectKeyIdentifier"), std::string::npos) << e.what();
  }

  // A server certificate is not a CA.
  const issued server = make_server(ca);
  const ca_material not_ca{server.cert_pem, server.key_pem, "tls.crt", "tls.key"};
  try {
    issue_server_cert(not_ca, options);
    FAIL() << "issued from a non-CA";
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "tls.crt: is not a CA certificate (basicConstraints CA:TRUE is missing)");
  }

  // An expired CA.
  ca_options old;
  old.days = 10;
  old.now = now - 20 * 86400;
  const issued expired = generate_ca(old);
  try {
    issue_server_cert(as_material(expired), options);
    FAIL() << "issued from an expired CA";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("ca.crt: expired on "), std::string::npos) << e.what();
  }
}

TEST(PkiIssue, ServerCertificateEndsWithItsCa) {
  ca_options short_lived;
  short_lived.days = 10;
  const issued ca = generate_ca(short_lived);
  const issued server = make_server(ca);
  const x509_ptr ca_cert = parse(ca.cert_pem);
  const x509_ptr cert = parse(server.cert_pem);
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(ca_cert.get())), 0);
  ASSERT_EQ(server.notes.size(), 1u);
  EXPECT_NE(server.notes[0].find("so the server certificate ends then too"), std::string::npos);
}

TEST(PkiIssue, RefusesDaysOutOfRange) {
  ca_options options;
  options.days = 0;
  try {
    generate_ca(options);
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "--days must be between 1 and 36500, got 0");
  }
}

TEST(PkiIssue, EncryptedKeysAreRefusedWithoutPrompting) {
  const pkey_ptr key = generate_key(key_type::ecdsa_p256);
  bio_ptr bio(BIO_new(BIO_s_mem()));
  static const char pass[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), pass, sizeof pass - 1, nullptr, nullptr), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  const std::string pem(data, static_cast<std::size_t>(len));
  try {
    load_private_key(pem, "tls.key");
    FAIL();
  } catch (const error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("tls.key: the private key is encrypted; the gateway needs it unencrypted", 0), 0u)
        << e.what();
  }
  try {
    load_private_key("not a key", "tls.key");
    FAIL();
  } catch (const error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("tls.key: no PEM private key (expected -----BEGIN PRIVATE KEY-----)", 0), 0u)
        << e.what();
  }
}

TEST(PkiIssue, KeyTypeNames) {
  EXPECT_EQ(parse_key_type("ecdsa-p256"), key_type::ecdsa_p256);
  EXPECT_EQ(parse_key_type("rsa-3072"), key_type::rsa_3072);
  EXPECT_EQ(parse_key_type("rsa-1024"), std::nullopt);
  EXPECT_EQ(parse_key_type("RSA-4096"), std::nullopt);
  EXPECT_EQ(key_type_names(), "ecdsa-p256, rsa-2048, rsa-3072, rsa-4096");
  for (auto type : {key_type::ecdsa_p256, key_type::rsa_2048, key_type::rsa_3072, key_type::rsa_4096}) {
    EXPECT_EQ(parse_key_type(to_string(type)), type);
  }
}

TEST(PkiIssue, SecondsLeft) {
  const std::time_t now = std::time(nullptr);
  ca_options options;
  options.days = 3;
  options.now = now;
  const issued ca = generate_ca(options);
  EXPECT_EQ(seconds_left(ca.cert_pem, now), 3 * 86400);
  EXPECT_EQ(seconds_left(ca.cert_pem, now + 4 * 86400), -86400);
  EXPECT_THROW(seconds_left("garbage"), error);
  EXPECT_EQ(format_remaining(3 * 86400 + 7200), "3d 2h");
  EXPECT_EQ(format_remaining(-(86400 + 3600)), "expired 1d 1h ago");
  EXPECT_EQ(format_remaining(125), "2m 5s");
  EXPECT_EQ(format_remaining(7), "7s");
}

}  // namespace
}  // namespace mcpgate::pki
