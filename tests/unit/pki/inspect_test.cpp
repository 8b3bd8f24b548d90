// `certs inspect` against good certificates and against each way a certificate can miss a
// tunnel requirement; the bad ones are built here with the OpenSSL API (cert_builder).
#include "pki/inspect.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "pki/builder.hpp"
#include "pki/key.hpp"
#include "pki/text.hpp"
#include "pki_test_util.hpp"

namespace mcpgate::pki {
namespace {

using testing::all_pass;
using testing::find;
using testing::line;
using testing::make_ca;
using testing::make_server;
using testing::parse;
using extensions = std::vector<std::pair<int, std::string>>;

struct made {
  pkey_ptr key;
  x509_ptr cert;
  std::string pem() const { return certificate_pem(cert.get()); }
  std::string key_pem() const { return private_key_pem(key.get()); }
};

const std::time_t now = std::time(nullptr);

extensions good_ca_extensions() {
  return {{NID_basic_constraints, "critical,CA:TRUE"},
          {NID_key_usage, "critical,keyCertSign,cRLSign"},
          {NID_subject_key_identifier, "hash"}};
}

extensions good_server_extensions(const std::string& domain = "example.test") {
  return {{NID_basic_constraints, "CA:FALSE"},
          {NID_key_usage, "critical,digitalSignature"},
          {NID_ext_key_usage, "serverAuth"},
          {NID_subject_alt_name, "DNS:" + domain + ",DNS:*." + domain},
          {NID_authority_key_identifier, "keyid:always"}};
}

// A certificate with exactly `exts`, signed by `issuer` (self-signed when null).
made build(const std::string& cn, const extensions& exts, const made* issuer, pkey_ptr key = generate_key(key_type::ecdsa_p256),
           const EVP_MD* digest = EVP_sha256(), std::time_t not_before = now - 60, std::time_t not_after = now + 400 * 86400) {
  cert_builder b;
  b.subject_cn(cn).validity(not_before, not_after).public_key(key.get());
  if (issuer) b.issued_by(issuer->cert.get());
  for (const auto& [nid, value] : exts) b.extension(nid, value);
  x509_ptr cert = b.sign(issuer ? issuer->key.get() : key.get(), digest);
  return {std::move(key), std::move(cert)};
}

made good_ca() { return build("mcp-tunnel-ca", good_ca_extensions(), nullptr); }

inspect_options for_domain(const std::string& domain) {
  inspect_options o;
  o.domain = domain;
  return o;
}

// ---- good material --------------------------------------------------------------------

TEST(PkiInspect, IssuedCaAndServerPassEveryCheck) {
  const issued ca = make_ca();
  const issued server = make_server(ca);
  const auto ca_checks = inspect_ca(ca.cert_pem);
  EXPECT_TRUE(all_pass(ca_checks));
  std::vector<std::string> names;
  for (const auto& r : ca_checks) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"single certificate", "size", "no private key", "basicConstraints",
                                             "subjectKeyIdentifier", "keyUsage", "validity", "key", "signature"}));
  EXPECT_EQ(line(ca_checks, "basicConstraints"), "PASS basicConstraints: critical, CA:TRUE");
  EXPECT_EQ(line(ca_checks, "keyUsage"), "PASS keyUsage: critical, keyCertSign, cRLSign");
  EXPECT_EQ(line(ca_checks, "key"), "PASS key: EC P-256");
  EXPECT_EQ(line(ca_checks, "signature"), "PASS signature: ecdsa-with-SHA256");

  const auto checks = inspect_server(server.cert_pem, ca.cert_pem, for_domain("example.test"));
  EXPECT_TRUE(all_pass(checks));
  names.clear();
  for (const auto& r : checks) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"single certificate", "no private key", "signed by CA",
                                             "authorityKeyIdentifier", "subjectAltName", "extendedKeyUsage",
                                             "keyUsage", "validity", "key", "signature"}));
  EXPECT_EQ(line(checks, "signed by CA"), "PASS signed by CA: signed by CN=mcp-tunnel-ca (signature verified)");
  EXPECT_EQ(line(checks, "subjectAltName"), "PASS subjectAltName: DNS:*.example.test covers every <route>.example.test");
  EXPECT_EQ(line(checks, "extendedKeyUsage"), "PASS extendedKeyUsage: serverAuth");
}

TEST(PkiInspect, ClassifiesCaAndServerCertificates) {
  const issued ca = make_ca();
  EXPECT_EQ(classify(ca.cert_pem), cert_kind::ca);
  EXPECT_EQ(classify(make_server(ca).cert_pem), cert_kind::server);
  EXPECT_EQ(classify(""), cert_kind::none);
  EXPECT_EQ(classify(ca.key_pem), cert_kind::none);
  // Self-signed without basicConstraints: someone's CA attempt, checked (and failed) as a CA.
  EXPECT_EQ(classify(build("mcp-tunnel-ca", {{NID_subject_key_identifier, "hash"}}, nullptr).pem()), cert_kind::ca);
}

TEST(PkiInspect, HostNamesAndFullHostDomain) {
  const issued ca = make_ca();
  const issued server = make_server(ca, "abcd.tunnel.example.test");
  inspect_options o;
  o.hostnames = {"echo.abcd.tunnel.example.test", "echo.other.test"};
  const auto checks = inspect_server(server.cert_pem, ca.cert_pem, o);
  EXPECT_EQ(line(checks, "subjectAltName echo.abcd.tunnel.example.test"),
            "PASS subjectAltName echo.abcd.tunnel.example.test: covered (DNS:abcd.tunnel.example.test, "
            "DNS:*.abcd.tunnel.example.test)");
  EXPECT_EQ(line(checks, "subjectAltName echo.other.test"),
            "FAIL subjectAltName echo.other.test: not covered: has DNS:abcd.tunnel.example.test, "
            "DNS:*.abcd.tunnel.example.test");
  EXPECT_EQ(find(checks, "subjectAltName"), nullptr) << "no domain given: only the host names are checked";

  // --domain given as a full route host name: covered through the wildcard.
  EXPECT_EQ(line(inspect_server(server.cert_pem, ca.cert_pem, for_domain("ECHO.abcd.tunnel.example.test")), "subjectAltName"),
            "PASS subjectAltName: covers echo.abcd.tunnel.example.test (DNS:abcd.tunnel.example.test, "
            "DNS:*.abcd.tunnel.example.test)");
}

TEST(PkiInspect, WithoutCaTheSignatureIsAWarning) {
  const issued ca = make_ca();
  const auto checks = inspect_server(make_server(ca).cert_pem, "");
  EXPECT_EQ(line(checks, "signed by CA"), "WARN signed by CA: not checked: no CA certificate given");
  EXPECT_FALSE(any_fail(checks));
  EXPECT_EQ(line(checks, "subjectAltName"),
            "PASS subjectAltName: DNS:example.test, DNS:*.example.test (no --domain given: coverage not checked)");
}

TEST(PkiInspect, FormatsFixLinesOnlyForNonPass) {
  const std::vector<check_result> results{{"a", check_status::pass, "fine", "unused"},
                                          {"b", check_status::warn, "soon", "renew"},
                                          {"c", check_status::fail, "broken", "replace"}};
  EXPECT_EQ(format_checks(results), "PASS a: fine\nWARN b: soon\n  fix: renew\nFAIL c: broken\n  fix: replace\n");
  EXPECT_TRUE(any_fail(results));
}

// ---- the CA requirements, one failure at a time ----------------------------------------

TEST(PkiInspect, CaMissingSubjectKeyIdentifier) {
  const made ca = build("mcp-tunnel-ca", {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "critical,keyCertSign"}}, nullptr);
  const auto checks = inspect_ca(ca.pem());
  EXPECT_EQ(line(checks, "subjectKeyIdentifier"), "FAIL subjectKeyIdentifier: missing");
  EXPECT_NE(find(checks, "subjectKeyIdentifier")->fix.find("subjectKeyIdentifier=hash"), std::string::npos);
  EXPECT_EQ(line(checks, "basicConstraints"), "PASS basicConstraints: critical, CA:TRUE");
}

TEST(PkiInspect, CaBasicConstraintsNotCritical) {
  const made ca = build("mcp-tunnel-ca", {{NID_basic_constraints, "CA:TRUE"}, {NID_key_usage, "keyCertSign"}, {NID_subject_key_identifier, "hash"}}, nullptr);
  const auto checks = inspect_ca(ca.pem());
  EXPECT_EQ(line(checks, "basicConstraints"), "FAIL basicConstraints: CA:TRUE but not marked critical");
  EXPECT_EQ(line(checks, "keyUsage"), "PASS keyUsage: keyCertSign") << "keyUsage need not be critical";
}

TEST(PkiInspect, CaWithoutBasicConstraintsOrKeyCertSign) {
  const made ca = build("mcp-tunnel-ca", {{NID_key_usage, "critical,digitalSignature"}, {NID_subject_key_identifier, "hash"}}, nullptr);
  const auto checks = inspect_ca(ca.pem());
  EXPECT_EQ(line(checks, "basicConstraints"), "FAIL basicConstraints: missing");
  EXPECT_EQ(line(checks, "keyUsage"), "FAIL keyUsage: does not include keyCertSign (has: digitalSignature)");

  const made no_ku = build("mcp-tunnel-ca", {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_subject_key_identifier, "hash"}}, nullptr);
  EXPECT_EQ(line(inspect_ca(no_ku.pem()), "keyUsage"), "FAIL keyUsage: missing");
}

TEST(PkiInspect, ServerCertificateGivenAsCa) {
  const issued ca = make_ca();
  EXPECT_EQ(line(inspect_ca(make_server(ca).cert_pem), "basicConstraints"),
            "FAIL basicConstraints: CA:FALSE: this is not a CA certificate");
}

TEST(PkiInspect, CaWeakKeysAndCurves) {
  const made rsa1024 = build("mcp-tunnel-ca", good_ca_extensions(), nullptr, pkey_ptr(EVP_RSA_gen(1024)));
  EXPECT_EQ(line(inspect_ca(rsa1024.pem()), "key"),
            "FAIL key: RSA 1024 bits: too weak; the tunnel requires RSA >= 2048 or ECDSA >= P-256");
  const made p224 = build("mcp-tunnel-ca", good_ca_extensions(), nullptr, pkey_ptr(EVP_EC_gen("P-224")));
  EXPECT_EQ(line(inspect_ca(p224.pem()), "key"),
            "FAIL key: EC secp224r1: not an accepted curve; the tunnel requires ECDSA P-256 or larger");
  const made p384 = build("mcp-tunnel-ca", good_ca_extensions(), nullptr, pkey_ptr(EVP_EC_gen("P-384")), EVP_sha384());
  EXPECT_TRUE(all_pass(inspect_ca(p384.pem())));
  const made ed = build("mcp-tunnel-ca", good_ca_extensions(), nullptr, pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")), nullptr);
  EXPECT_EQ(line(inspect_ca(ed.pem()), "key"), "FAIL key: ED25519: the tunnel requires RSA >= 2048 or ECDSA >= P-256");
}

TEST(PkiInspect, Sha1Signature) {
  const made ca = build("mcp-tunnel-ca", good_ca_extensions(), nullptr, pkey_ptr(EVP_RSA_gen(2048)), EVP_sha1());
  const auto checks = inspect_ca(ca.pem());
  EXPECT_EQ(line(checks, "signature"), "FAIL signature: sha1WithRSAEncryption: the tunnel requires SHA-256 or stronger");
  EXPECT_EQ(line(checks, "key"), "PASS key: RSA 2048 bits");
}

TEST(PkiInspect, CaValidityWindow) {
  const made expired = build("mcp-tunnel-ca", good_ca_extensions(), nullptr, generate_key(key_type::ecdsa_p256), EVP_sha256(),
                             now - 400 * 86400, now - 3 * 86400 - 7200);
  const x509_ptr e = parse(expired.pem());
  EXPECT_EQ(line(inspect_ca(expired.pem()), "validity"),
            "FAIL validity: expired on " + format_time(X509_get0_notAfter(e.get())) + " (expired 3d 2h ago)");

  const made future = build("mcp-tunnel-ca", good_ca_extensions(), nullptr, generate_key(key_type::ecdsa_p256), EVP_sha256(),
                            now + 86400, now + 400 * 86400);
  const x509_ptr f = parse(future.pem());
  EXPECT_EQ(line(inspect_ca(future.pem()), "validity"), "FAIL validity: not valid before " + format_time(X509_get0_notBefore(f.get())));

  // Under 30 days left is a warning, not a failure; the injected clock decides.
  const issued ca = make_ca();
  inspect_options later;
  later.now = now + (1826 - 12) * 86400LL;
  const auto checks = inspect_ca(ca.cert_pem, later);
  EXPECT_EQ(line(checks, "validity").rfind("WARN validity: expires on ", 0), 0u) << line(checks, "validity");
  EXPECT_NE(line(checks, "validity").find(" (12d 0h left)"), std::string::npos) << line(checks, "validity");
  EXPECT_FALSE(any_fail(checks));
}

// ---- the file as uploaded ---------------------------------------------------------------

TEST(PkiInspect, TwoCertificatesInOneCaFile) {
  const issued a = make_ca();
  const issued b = make_ca();
  EXPECT_EQ(line(inspect_ca(a.cert_pem + b.cert_pem), "single certificate"),
            "FAIL single certificate: 2 CERTIFICATE blocks; the tunnel takes exactly one CA certificate per upload");
}

TEST(PkiInspect, PrivateKeyInTheCertificateFile) {
  const issued ca = make_ca();
  const auto checks = inspect_ca(ca.cert_pem + ca.key_pem);
  EXPECT_EQ(line(checks, "no private key"),
            "FAIL no private key: the file contains private key material (-----BEGIN PRIVATE KEY-----)");
  EXPECT_EQ(line(checks, "single certificate"), "PASS single certificate: one PEM CERTIFICATE block");
  const auto rsa = inspect_ca(ca.cert_pem + "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
  EXPECT_EQ(line(rsa, "no private key"),
            "FAIL no private key: the file contains private key material (-----BEGIN RSA PRIVATE KEY-----)");
  const auto server = inspect_server(make_server(ca).cert_pem + ca.key_pem, ca.cert_pem);
  EXPECT_EQ(line(server, "no private key"),
            "FAIL no private key: the file contains private key material (-----BEGIN PRIVATE KEY-----)");
}

TEST(PkiInspect, CaFileLargerThan8KiB) {
  const issued ca = make_ca();
  std::string padded = ca.cert_pem;
  while (padded.size() < 9000) padded += "# padding comment line, as an editor or a bundle tool might add\n";
  const auto checks = inspect_ca(padded);
  EXPECT_EQ(line(checks, "size"),
            "FAIL size: " + std::to_string(padded.size()) + " bytes, more than the tunnel's limit of 8192");
  EXPECT_EQ(line(checks, "single certificate"),
            "WARN single certificate: one CERTIFICATE block, with other text around it");
  EXPECT_EQ(line(inspect_ca(ca.cert_pem), "size"), "PASS size: " + std::to_string(ca.cert_pem.size()) + " bytes (limit 8192)");
}

TEST(PkiInspect, NotACertificateAtAll) {
  EXPECT_EQ(line(inspect_ca(""), "single certificate"), "FAIL single certificate: no -----BEGIN CERTIFICATE----- block");
  EXPECT_EQ(line(inspect_server("hello", ""), "single certificate"),
            "FAIL single certificate: no -----BEGIN CERTIFICATE----- block");
  const issued ca = make_ca();
  const x509_ptr cert = parse(ca.cert_pem);
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  const std::string der_text(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  EXPECT_EQ(line(inspect_ca(der_text), "single certificate"), "FAIL single certificate: DER-encoded; the tunnel takes PEM");

  std::string corrupt = ca.cert_pem;
  corrupt[40] = corrupt[40] == 'A' ? 'B' : 'A';
  corrupt.erase(60, 30);
  const auto checks = inspect_ca(corrupt);
  EXPECT_EQ(line(checks, "single certificate").rfind("FAIL single certificate: the CERTIFICATE block does not parse: ", 0), 0u)
      << line(checks, "single certificate");
  EXPECT_EQ(find(checks, "basicConstraints"), nullptr) << "nothing more to check without a certificate";

  const std::string unterminated = ca.cert_pem.substr(0, ca.cert_pem.find("-----END"));
  EXPECT_EQ(line(inspect_ca(unterminated), "single certificate"),
            "FAIL single certificate: no -----BEGIN CERTIFICATE----- block");
  EXPECT_EQ(line(inspect_ca(ca.cert_pem + unterminated), "single certificate"),
            "FAIL single certificate: a PEM block has no END line");
}

// ---- the server requirements -----------------------------------------------------------

TEST(PkiInspect, ServerSignedByAnIntermediate) {
  const made root = good_ca();
  const made intermediate = build("intermediate", good_ca_extensions(), &root);
  const made leaf = build("example.test", good_server_extensions(), &intermediate);
  const auto checks = inspect_server(leaf.pem(), root.pem(), for_domain("example.test"));
  EXPECT_EQ(line(checks, "signed by CA"),
            "FAIL signed by CA: issued by CN=intermediate, not by the CA CN=mcp-tunnel-ca (the tunnel needs the server "
            "certificate signed directly by the registered CA, no intermediates)");
  EXPECT_EQ(line(checks, "authorityKeyIdentifier").rfind("FAIL authorityKeyIdentifier: ", 0), 0u);
  // The same leaf checked against its real issuer passes.
  EXPECT_TRUE(all_pass(inspect_server(leaf.pem(), intermediate.pem(), for_domain("example.test"))));
}

TEST(PkiInspect, ServerWithWrongAuthorityKeyIdentifier) {
  // Two CAs with the same name: the leaf's AKI names the first, the second signs it.
  const made first = good_ca();
  const made second = good_ca();
  cert_builder b;
  const pkey_ptr key = generate_key(key_type::ecdsa_p256);
  b.subject_cn("example.test").validity(now - 60, now + 86400 * 30 * 3).public_key(key.get()).issued_by(first.cert.get());
  for (const auto& [nid, value] : good_server_extensions()) b.extension(nid, value);
  const x509_ptr leaf = b.sign(second.key.get(), EVP_sha256());
  const auto checks = inspect_server(certificate_pem(leaf.get()), second.pem(), for_domain("example.test"));
  EXPECT_EQ(line(checks, "signed by CA"), "PASS signed by CA: signed by CN=mcp-tunnel-ca (signature verified)");
  const std::string first_ski = hex(ASN1_STRING_get0_data(X509_get0_subject_key_id(first.cert.get())), 20);
  const std::string second_ski = hex(ASN1_STRING_get0_data(X509_get0_subject_key_id(second.cert.get())), 20);
  EXPECT_EQ(line(checks, "authorityKeyIdentifier"),
            "FAIL authorityKeyIdentifier: " + first_ski + " does not match the CA's subjectKeyIdentifier " + second_ski);
  // Against the first CA the name matches but its key does not verify the signature.
  EXPECT_EQ(line(inspect_server(certificate_pem(leaf.get()), first.pem()), "signed by CA"),
            "FAIL signed by CA: the issuer name is CN=mcp-tunnel-ca but the CA's key does not verify the signature "
            "(another CA with the same name?)");
}

TEST(PkiInspect, ServerMissingAuthorityKeyIdentifierOrSan) {
  const made ca = good_ca();
  extensions no_aki = good_server_extensions();
  no_aki.pop_back();
  const auto checks = inspect_server(build("example.test", no_aki, &ca).pem(), ca.pem());
  EXPECT_EQ(line(checks, "authorityKeyIdentifier"), "FAIL authorityKeyIdentifier: missing");

  const extensions no_san{{NID_authority_key_identifier, "keyid:always"}};
  EXPECT_EQ(line(inspect_server(build("example.test", no_san, &ca).pem(), ca.pem()), "subjectAltName"),
            "FAIL subjectAltName: no DNS names (TLS clients match host names against subjectAltName only)");
}

TEST(PkiInspect, ServerSanForAnotherDomain) {
  const issued ca = make_ca();
  const auto checks = inspect_server(make_server(ca, "example.test").cert_pem, ca.cert_pem, for_domain("Other.TEST"));
  EXPECT_EQ(line(checks, "subjectAltName"),
            "FAIL subjectAltName: does not cover <route>.other.test: has DNS:example.test, DNS:*.example.test");
  EXPECT_EQ(find(checks, "subjectAltName")->fix,
            "issue it for this domain: mcpgate certs server --ca DIR --domain other.test --out DIR");

  // Only the apex, no wildcard: routes are not covered.
  const made own = good_ca();
  extensions apex = good_server_extensions();
  apex[3].second = "DNS:example.test";
  EXPECT_EQ(line(inspect_server(build("example.test", apex, &own).pem(), own.pem(), for_domain("example.test")), "subjectAltName"),
            "PASS subjectAltName: covers example.test (DNS:example.test)");
  inspect_options route;
  route.hostnames = {"echo.example.test"};
  EXPECT_EQ(line(inspect_server(build("example.test", apex, &own).pem(), own.pem(), route), "subjectAltName echo.example.test"),
            "FAIL subjectAltName echo.example.test: not covered: has DNS:example.test");
}

TEST(PkiInspect, ServerExtendedKeyUsageAndKeyUsage) {
  const made ca = good_ca();
  extensions client = good_server_extensions();
  client[2].second = "clientAuth";
  EXPECT_EQ(line(inspect_server(build("example.test", client, &ca).pem(), ca.pem()), "extendedKeyUsage"),
            "FAIL extendedKeyUsage: present without serverAuth (has: clientAuth)");

  extensions none = good_server_extensions();
  none.erase(none.begin() + 2);
  EXPECT_EQ(line(inspect_server(build("example.test", none, &ca).pem(), ca.pem()), "extendedKeyUsage"),
            "PASS extendedKeyUsage: absent (any use)");

  extensions encipher_only = good_server_extensions();
  encipher_only[1].second = "critical,keyEncipherment";
  EXPECT_EQ(line(inspect_server(build("example.test", encipher_only, &ca).pem(), ca.pem()), "keyUsage"),
            "FAIL keyUsage: does not include digitalSignature (has: keyEncipherment): TLS handshakes with this key fail");
}

TEST(PkiInspect, ServerExpiredAndChainFile) {
  const issued ca = make_ca();
  server_options options;
  options.domain = "example.test";
  options.key = key_type::ecdsa_p256;
  options.now = now - 100 * 86400;
  const issued old = issue_server_cert(testing::as_material(ca), options);
  inspect_options o;
  o.now = now;
  const auto checks = inspect_server(old.cert_pem, ca.cert_pem, o);
  const x509_ptr cert = parse(old.cert_pem);
  EXPECT_EQ(line(checks, "validity"),
            "FAIL validity: expired on " + format_time(X509_get0_notAfter(cert.get())) + " (expired 10d 0h ago)");
  EXPECT_EQ(find(checks, "validity")->fix, "mcpgate certs renew --ca DIR --out DIR");

  // tls.crt with the CA appended: allowed, with a warning.
  const auto chain = inspect_server(make_server(ca).cert_pem + ca.cert_pem, ca.cert_pem);
  EXPECT_EQ(line(chain, "single certificate"),
            "WARN single certificate: 2 certificates; the first is checked as the server certificate");
}

TEST(PkiInspect, PemScanner) {
  const pem_scan scan = scan_pem("junk\n-----BEGIN A-----\nxx\n-----END A-----\r\n\n-----BEGIN B-----\n-----END C-----\n");
  ASSERT_EQ(scan.blocks.size(), 1u);
  EXPECT_EQ(scan.blocks[0].label, "A");
  EXPECT_EQ(scan.blocks[0].text, "-----BEGIN A-----\nxx\n-----END A-----\r\n");
  EXPECT_TRUE(scan.text_outside);
  EXPECT_TRUE(scan.unterminated);

  std::string many;
  for (int i = 0; i < 100; ++i) many += "-----BEGIN X-----\n-----END X-----\n";
  const pem_scan capped = scan_pem(many);
  EXPECT_EQ(capped.blocks.size(), pem_scan::max_blocks);
  EXPECT_EQ(capped.block_count, 100u);
}

TEST(PkiInspect, FormatTime) {
  asn1_time_ptr t(ASN1_TIME_new());
  ASSERT_EQ(ASN1_TIME_set_string(t.get(), "20310501120000Z"), 1);
  EXPECT_EQ(format_time(t.get()), "2031-05-01 12:00:00 UTC");
  EXPECT_EQ(format_time(nullptr), "(unreadable time)");
}

}  // namespace
}  // namespace mcpgate::pki
