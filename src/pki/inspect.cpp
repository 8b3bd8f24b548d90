#include "pki/inspect.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki/error.hpp"
#include "pki/key.hpp"
#include "pki/ossl.hpp"
#include "pki/pem.hpp"
#include "pki/text.hpp"

namespace mcpgate::pki {
namespace {

constexpr const char* ca_fix =
    "create the CA with `mcpgate certs ca --out DIR` (or add -addext \"basicConstraints=critical,CA:TRUE\" "
    "-addext \"keyUsage=critical,keyCertSign,cRLSign\" -addext \"subjectKeyIdentifier=hash\" to openssl req)";
constexpr const char* server_fix = "issue it again from the registered CA: mcpgate certs server --ca DIR --domain DOMAIN --out DIR";

class collector {
 public:
  void pass(std::string name, std::string detail) { add(std::move(name), check_status::pass, std::move(detail), {}); }
  void warn(std::string name, std::string detail, std::string fix) {
    add(std::move(name), check_status::warn, std::move(detail), std::move(fix));
  }
  void fail(std::string name, std::string detail, std::string fix) {
    add(std::move(name), check_status::fail, std::move(detail), std::move(fix));
  }
  std::vector<check_result> take() { return std::move(results_); }

 private:
  void add(std::string name, check_status status, std::string detail, std::string fix) {
    results_.push_back({std::move(name), status, std::move(detail), std::move(fix)});
  }
  std::vector<check_result> results_;
};

// An extension decoded with its criticality: absent, duplicated, unparsable, or a value.
template <class Ptr>
struct decoded_ext {
  Ptr value;
  int critical = -1;  // -1 absent, -2 present more than once, else 0/1
  bool present() const { return critical >= 0 || critical == -2; }
};

template <class Ptr>
decoded_ext<Ptr> decode(X509* cert, int nid) {
  decoded_ext<Ptr> out;
  out.value.reset(static_cast<typename Ptr::pointer>(X509_get_ext_d2i(cert, nid, &out.critical, nullptr)));
  return out;
}

std::string key_id(const ASN1_OCTET_STRING* id) {
  if (id == nullptr) return "(none)";
  const auto len = static_cast<std::size_t>(ASN1_STRING_length(id));
  constexpr std::size_t shown = 32;
  return hex(ASN1_STRING_get0_data(id), std::min(len, shown)) + (len > shown ? ":..." : "");
}

std::string key_usage_names(const ASN1_BIT_STRING* bits) {
  static constexpr std::array<const char*, 9> names{"digitalSignature", "nonRepudiation", "keyEncipherment",
                                                    "dataEncipherment", "keyAgreement",   "keyCertSign",
                                                    "cRLSign",          "encipherOnly",   "decipherOnly"};
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (ASN1_BIT_STRING_get_bit(bits, static_cast<int>(i)) == 1) out += (out.empty() ? "" : ", ") + std::string(names[i]);
  }
  return out.empty() ? "(none)" : out;
}

std::string joined(const std::vector<std::string>& items, const char* prefix) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + std::string(prefix) + item;
  return out.empty() ? "(none)" : out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

// ---- checks shared by both kinds ---------------------------------------------------

// "single certificate": exactly one parsable CERTIFICATE block (a server file may hold
// more, with a WARN). Returns the first certificate, or null after recording a FAIL.
x509_ptr check_single_certificate(std::string_view pem, const pem_scan& scan, std::size_t certs, bool ca,
                                  collector& out) {
  const std::string name = "single certificate";
  if (certs == 0) {
    if (scan.block_count == 0 && looks_like_der(pem)) {
      out.fail(name, "DER-encoded; the tunnel takes PEM", "convert it: openssl x509 -inform der -in FILE -out FILE.pem");
    } else {
      out.fail(name, "no -----BEGIN CERTIFICATE----- block",
               ca ? "give the CA certificate file (ca.crt)" : "give the server certificate file (tls.crt)");
    }
    return nullptr;
  }

  x509_ptr cert;
  std::string parse_error;
  for (const auto& b : scan.blocks) {
    if (b.label != "CERTIFICATE") continue;
    try {
      cert = parse_certificate(b.text, "");
    } catch (const error& e) {
      parse_error = e.what();
    }
    break;
  }
  if (!cert) {
    out.fail(name, "the CERTIFICATE block does not parse: " + printable(parse_error),
             "copy the certificate again, whole, from -----BEGIN to -----END CERTIFICATE-----");
    return nullptr;
  }

  std::string other;
  for (const auto& b : scan.blocks) {
    if (b.label != "CERTIFICATE" && b.label.find("PRIVATE KEY") == std::string::npos) other = b.label;
  }
  if (ca && certs > 1) {
    out.fail(name, std::to_string(certs) + " CERTIFICATE blocks; the tunnel takes exactly one CA certificate per upload",
             "keep only the CA certificate in the file (a tunnel holds up to two CAs, uploaded one by one)");
  } else if (ca && !other.empty()) {
    out.fail(name, "also contains a " + printable(other) + " block; only a CERTIFICATE block is accepted",
             "keep only the -----BEGIN CERTIFICATE----- block in the file");
  } else if (scan.unterminated) {
    out.fail(name, "a PEM block has no END line", "copy the certificate again, whole");
  } else if (!ca && certs > 1) {
    out.warn(name, std::to_string(certs) + " certificates; the first is checked as the server certificate",
             "the tunnel needs only the server certificate (no intermediates); the others can go");
  } else if (ca && scan.text_outside) {
    out.warn(name, "one CERTIFICATE block, with other text around it", "keep only the PEM block in the file");
  } else {
    out.pass(name, "one PEM CERTIFICATE block");
  }
  return cert;
}

// The file's PEM structure (and, for a CA, its size); returns the certificate to check
// further, or null (a FAIL has then been recorded).
x509_ptr check_structure(std::string_view pem, bool ca, collector& out) {
  if (pem.size() > max_pem_file_bytes) {
    out.fail("size", std::to_string(pem.size()) + " bytes: not a certificate file",
             ca ? "give the CA certificate file (ca.crt)" : "give the server certificate file (tls.crt)");
    return nullptr;
  }
  const pem_scan scan = scan_pem(pem);
  const std::size_t certs = scan.count("CERTIFICATE");
  x509_ptr cert = check_single_certificate(pem, scan, certs, ca, out);

  if (ca) {
    if (pem.size() > max_ca_upload_bytes) {
      out.fail("size", std::to_string(pem.size()) + " bytes, more than the tunnel's limit of " +
                           std::to_string(max_ca_upload_bytes),
               "upload the CA certificate alone (one PEM block, no comments or other certificates)");
    } else {
      out.pass("size", std::to_string(pem.size()) + " bytes (limit " + std::to_string(max_ca_upload_bytes) + ")");
    }
  }
  if (scan.has_private_key()) {
    std::string label;
    for (const auto& b : scan.blocks) {
      if (b.label.find("PRIVATE KEY") != std::string::npos) label = b.label;
    }
    out.fail("no private key", "the file contains private key material (-----BEGIN " + printable(label) + "-----)",
             ca ? "upload only the certificate (ca.crt); keep ca.key private, and since it has been in this file, "
                  "consider it exposed"
                : "keep the key in its own file (tls.key), not in the certificate file");
  } else {
    out.pass("no private key", "no private key material");
  }
  return cert;
}

void check_extensions_parse(X509* cert, collector& out) {
  if ((X509_get_extension_flags(cert) & EXFLAG_INVALID) != 0) {
    out.fail("extensions", "some extensions are malformed or repeated; TLS clients reject such a certificate",
             "issue the certificate again");
  }
}

void check_validity(X509* cert, std::time_t now, bool ca, collector& out) {
  const std::string fix = ca ? "create a new CA, register it beside the old one, re-issue the server certificate from "
                               "it, then revoke the old CA (docs/certs.md, CA rotation)"
                             : "mcpgate certs renew --ca DIR --out DIR";
  try {
    const long long from = seconds_until(X509_get0_notBefore(cert), now);
    const long long left = seconds_until(X509_get0_notAfter(cert), now);
    const std::string until = format_time(X509_get0_notAfter(cert));
    if (from > 0) {
      out.fail("validity", "not valid before " + format_time(X509_get0_notBefore(cert)),
               "check the clock of the machine that issued it (and of this one)");
    } else if (left <= 0) {
      out.fail("validity", "expired on " + until + " (" + format_remaining(left) + ")", fix);
    } else if (left < expiry_warning_seconds) {
      out.warn("validity", "expires on " + until + " (" + format_remaining(left) + " left)", fix);
    } else {
      out.pass("validity", "valid until " + until + " (" + format_remaining(left) + " left)");
    }
  } catch (const error&) {
    out.fail("validity", "unreadable notBefore/notAfter", "issue the certificate again");
  }
}

void check_key(X509* cert, bool ca, collector& out) {
  const std::string fix = ca ? "create the CA again with --key-type ecdsa-p256 (or rsa-2048 and larger)"
                             : "issue it again with --key-type rsa-4096, rsa-2048 or ecdsa-p256";
  const EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) {
    out.fail("key", "the public key does not parse", fix);
    return;
  }
  const std::string what = describe_key(key);
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key) >= 2048) out.pass("key", what);
    else out.fail("key", what + ": too weak; the tunnel requires RSA >= 2048 or ECDSA >= P-256", fix);
  } else if (id == EVP_PKEY_EC) {
    if (what == "EC P-256" || what == "EC P-384" || what == "EC P-521") out.pass("key", what);
    else out.fail("key", what + ": not an accepted curve; the tunnel requires ECDSA P-256 or larger", fix);
  } else {
    out.fail("key", what + ": the tunnel requires RSA >= 2048 or ECDSA >= P-256", fix);
  }
}

void check_signature(X509* cert, collector& out) {
  const int sig_nid = X509_get_signature_nid(cert);
  const char* long_name = OBJ_nid2ln(sig_nid);
  const std::string name = long_name ? long_name : "unknown algorithm";
  int md = NID_undef;
  if (X509_get_signature_info(cert, &md, nullptr, nullptr, nullptr) != 1) {
    out.fail("signature", name + ": unknown signature algorithm", "issue the certificate again (SHA-256)");
    return;
  }
  static constexpr std::array<int, 6> strong{NID_sha256, NID_sha384, NID_sha512, NID_sha3_256, NID_sha3_384, NID_sha3_512};
  if (std::find(strong.begin(), strong.end(), md) != strong.end()) {
    out.pass("signature", name);
  } else {
    out.fail("signature", name + ": the tunnel requires SHA-256 or stronger",
             "issue the certificate again (mcpgate certs signs with SHA-256)");
  }
}

// The requirements CA and server certificate share, which close both checklists.
void check_validity_key_signature(X509* cert, std::time_t now, bool ca, collector& out) {
  check_validity(cert, now, ca, out);
  check_key(cert, ca, out);
  check_signature(cert, out);
  ERR_clear_error();  // decoding queues reasons for what was reported before
}

std::time_t now_of(const inspect_options& options) { return options.now ? *options.now : std::time(nullptr); }

}  // namespace

const char* to_string(check_status status) {
  switch (status) {
    case check_status::pass: return "PASS";
    case check_status::warn: return "WARN";
    case check_status::fail: return "FAIL";
  }
  return "?";
}

bool any_fail(const std::vector<check_result>& results) {
  return std::any_of(results.begin(), results.end(), [](const check_result& r) { return r.status == check_status::fail; });
}

std::string format_checks(const std::vector<check_result>& results) {
  std::string out;
  for (const auto& r : results) {
    out += std::string(to_string(r.status)) + " " + r.name + ": " + r.detail + "\n";
    if (r.status != check_status::pass && !r.fix.empty()) out += "  fix: " + r.fix + "\n";
  }
  return out;
}

cert_kind classify(std::string_view pem) {
  if (pem.size() > max_pem_file_bytes) return cert_kind::none;
  const pem_scan scan = scan_pem(pem);
  for (const auto& b : scan.blocks) {
    if (b.label != "CERTIFICATE") continue;
    x509_ptr cert;
    try {
      cert = parse_certificate(b.text, "");
    } catch (const error&) {
      return cert_kind::none;
    }
    const auto bc = decode<basic_constraints_ptr>(cert.get(), NID_basic_constraints);
    if (bc.value) return bc.value->ca ? cert_kind::ca : cert_kind::server;
    const bool self_issued =
        X509_NAME_cmp(X509_get_issuer_name(cert.get()), X509_get_subject_name(cert.get())) == 0;
    return self_issued ? cert_kind::ca : cert_kind::server;
  }
  return cert_kind::none;
}

std::vector<check_result> inspect_ca(std::string_view pem, const inspect_options& options) {
  collector out;
  const x509_ptr cert = check_structure(pem, true, out);
  if (!cert) return out.take();
  X509* c = cert.get();
  check_extensions_parse(c, out);

  const auto bc = decode<basic_constraints_ptr>(c, NID_basic_constraints);
  if (!bc.present()) {
    out.fail("basicConstraints", "missing", ca_fix);
  } else if (!bc.value) {
    out.fail("basicConstraints", bc.critical == -2 ? "present more than once" : "present but does not parse", ca_fix);
  } else if (!bc.value->ca) {
    out.fail("basicConstraints", "CA:FALSE: this is not a CA certificate",
             "give the CA certificate (ca.crt), not the server certificate (tls.crt)");
  } else if (bc.critical != 1) {
    out.fail("basicConstraints", "CA:TRUE but not marked critical", ca_fix);
  } else {
    out.pass("basicConstraints", "critical, CA:TRUE");
  }

  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(c);
  if (ski == nullptr) out.fail("subjectKeyIdentifier", "missing", ca_fix);
  else out.pass("subjectKeyIdentifier", key_id(ski));

  const auto ku = decode<bit_string_ptr>(c, NID_key_usage);
  if (!ku.present()) {
    out.fail("keyUsage", "missing", ca_fix);
  } else if (!ku.value) {
    out.fail("keyUsage", "present but does not parse", ca_fix);
  } else if (ASN1_BIT_STRING_get_bit(ku.value.get(), 5) != 1) {
    out.fail("keyUsage", "does not include keyCertSign (has: " + key_usage_names(ku.value.get()) + ")", ca_fix);
  } else {
    out.pass("keyUsage", std::string(ku.critical == 1 ? "critical, " : "") + key_usage_names(ku.value.get()));
  }

  check_validity_key_signature(c, now_of(options), true, out);
  return out.take();
}

std::vector<check_result> inspect_server(std::string_view pem, std::string_view ca_pem, const inspect_options& options) {
  collector out;
  const x509_ptr cert = check_structure(pem, false, out);
  if (!cert) return out.take();
  X509* c = cert.get();
  check_extensions_parse(c, out);

  // Signed directly by the CA: the issuer name is the CA's subject and the CA's key
  // verifies the signature. An intermediate fails the first test.
  x509_ptr ca;
  if (ca_pem.empty()) {
    out.warn("signed by CA", "not checked: no CA certificate given", "pass the CA certificate (--ca ca.crt)");
  } else {
    try {
      if (ca_pem.size() > max_pem_file_bytes) throw error("", "too large");
      ca = parse_certificate(ca_pem, "");
    } catch (const error& e) {
      out.fail("signed by CA", "the CA certificate does not parse: " + printable(e.what()), "give the CA certificate (ca.crt)");
    }
  }
  if (ca) {
    const std::string ca_name = name_of(X509_get_subject_name(ca.get()));
    const std::string issuer = name_of(X509_get_issuer_name(c));
    EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
    if (X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(ca.get())) != 0) {
      out.fail("signed by CA",
               "issued by " + issuer + ", not by the CA " + ca_name +
                   " (the tunnel needs the server certificate signed directly by the registered CA, no intermediates)",
               server_fix);
    } else if (ca_key == nullptr || X509_verify(c, ca_key) != 1) {
      (void)openssl_reason();  // X509_verify queues a reason nobody else reads
      out.fail("signed by CA",
               "the issuer name is " + ca_name + " but the CA's key does not verify the signature (another CA with "
               "the same name?)",
               server_fix);
    } else {
      out.pass("signed by CA", "signed by " + ca_name + " (signature verified)");
    }
  }

  const auto aki_ext = decode<akid_ptr>(c, NID_authority_key_identifier);
  const AUTHORITY_KEYID* aki = aki_ext.value.get();
  if (!aki_ext.present()) {
    out.fail("authorityKeyIdentifier", "missing", "issue it again with authorityKeyIdentifier=keyid (" + std::string(server_fix) + ")");
  } else if (aki == nullptr || aki->keyid == nullptr) {
    out.fail("authorityKeyIdentifier", aki == nullptr ? "present but does not parse" : "has no keyIdentifier",
             "issue it again with authorityKeyIdentifier=keyid (" + std::string(server_fix) + ")");
  } else if (!ca) {
    out.pass("authorityKeyIdentifier", key_id(aki->keyid) + " (not compared: no CA)");
  } else {
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca.get());
    if (ski == nullptr) {
      out.fail("authorityKeyIdentifier", "the CA has no subjectKeyIdentifier to match", ca_fix);
    } else if (ASN1_OCTET_STRING_cmp(aki->keyid, ski) != 0) {
      out.fail("authorityKeyIdentifier",
               key_id(aki->keyid) + " does not match the CA's subjectKeyIdentifier " + key_id(ski), server_fix);
    } else {
      out.pass("authorityKeyIdentifier", key_id(aki->keyid) + " = the CA's subjectKeyIdentifier");
    }
  }

  const std::vector<std::string> names = dns_names(c);
  const std::string listed = joined(names, "DNS:");
  const std::string domain = lower(options.domain);
  if (names.empty()) {
    out.fail("subjectAltName", "no DNS names (TLS clients match host names against subjectAltName only)",
             "issue it again with mcpgate certs server --domain DOMAIN");
  } else if (!domain.empty()) {
    const bool wildcard = std::any_of(names.begin(), names.end(), [&](const std::string& n) { return lower(n) == "*." + domain; });
    if (wildcard) {
      out.pass("subjectAltName", "DNS:*." + domain + " covers every <route>." + domain);
    } else if (X509_check_host(c, domain.data(), domain.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1) {
      out.pass("subjectAltName", "covers " + printable(domain) + " (" + listed + ")");
    } else {
      out.fail("subjectAltName", "does not cover <route>." + printable(domain) + ": has " + listed,
               "issue it for this domain: mcpgate certs server --ca DIR --domain " + printable(domain) + " --out DIR");
    }
  } else if (options.hostnames.empty()) {
    out.pass("subjectAltName", listed + " (no --domain given: coverage not checked)");
  }
  for (const auto& host : options.hostnames) {
    const std::string name = "subjectAltName " + printable(host);
    if (X509_check_host(c, host.data(), host.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1) {
      out.pass(name, "covered (" + listed + ")");
    } else {
      out.fail(name, "not covered: has " + listed, server_fix);
    }
  }

  const auto eku = decode<eku_ptr>(c, NID_ext_key_usage);
  if (!eku.present()) {
    out.pass("extendedKeyUsage", "absent (any use)");
  } else if (!eku.value) {
    out.fail("extendedKeyUsage", "present but does not parse", server_fix);
  } else {
    bool server_auth = false;
    std::vector<std::string> purposes;
    const int n = sk_ASN1_OBJECT_num(eku.value.get());
    for (int i = 0; i < n && i < 32; ++i) {
      const ASN1_OBJECT* obj = sk_ASN1_OBJECT_value(eku.value.get(), i);
      const int nid = OBJ_obj2nid(obj);
      server_auth = server_auth || nid == NID_server_auth;
      if (const char* sn = nid != NID_undef ? OBJ_nid2sn(nid) : nullptr) {
        purposes.emplace_back(sn);
      } else {
        char buf[80];
        OBJ_obj2txt(buf, sizeof buf, obj, 1);
        purposes.push_back(printable(buf));
      }
    }
    if (server_auth) out.pass("extendedKeyUsage", joined(purposes, ""));
    else out.fail("extendedKeyUsage", "present without serverAuth (has: " + joined(purposes, "") + ")", server_fix);
  }

  const auto ku = decode<bit_string_ptr>(c, NID_key_usage);
  if (ku.present() && !ku.value) {
    out.fail("keyUsage", "present but does not parse", server_fix);
  } else if (ku.value && ASN1_BIT_STRING_get_bit(ku.value.get(), 0) != 1) {
    out.fail("keyUsage", "does not include digitalSignature (has: " + key_usage_names(ku.value.get()) +
                             "): TLS handshakes with this key fail", server_fix);
  } else {
    out.pass("keyUsage", ku.value ? key_usage_names(ku.value.get()) : "absent (any use)");
  }

  check_validity_key_signature(c, now_of(options), false, out);
  return out.take();
}

}  // namespace mcpgate::pki
