// A thin, checked wrapper over X509 building: subject, validity, key, issuer, extensions
// in OpenSSL's config syntax ("critical,CA:TRUE"), then one signature. issue.cpp makes the
// tunnel's certificates with it; tests make deliberately wrong ones with it.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pki/ossl.hpp"

namespace mcpgate::pki {

// A random positive serial of 16 bytes (RFC 5280 allows 20; the top bit is cleared so the
// DER integer stays positive and 16 bytes long).
asn1_integer_ptr random_serial();

class cert_builder {
 public:
  cert_builder();  // X.509 v3 with a random serial

  cert_builder& subject_cn(std::string_view common_name);
  cert_builder& validity(std::time_t not_before, std::time_t not_after);
  cert_builder& public_key(EVP_PKEY* key);
  // The issuing CA's certificate: its subject becomes the issuer name, its
  // subjectKeyIdentifier the source of `authorityKeyIdentifier=keyid`. Default: self-signed.
  cert_builder& issued_by(X509* issuer);
  // Added in call order at sign() time, when subject key and issuer are known
  // (subjectKeyIdentifier=hash needs the key, authorityKeyIdentifier the issuer).
  cert_builder& extension(int nid, std::string value);

  // Signs with `signing_key` (the issuer's, or the subject's own when self-signed).
  // The builder is spent afterwards.
  x509_ptr sign(EVP_PKEY* signing_key, const EVP_MD* digest);

 private:
  x509_ptr cert_;
  X509* issuer_ = nullptr;
  std::vector<std::pair<int, std::string>> extensions_;
};

}  // namespace mcpgate::pki
