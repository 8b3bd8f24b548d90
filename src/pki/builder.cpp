#include "pki/builder.hpp"

#include <array>

#include <openssl/rand.h>

#include "pki/error.hpp"

namespace mcpgate::pki {

asn1_integer_ptr random_serial() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) throw_openssl("", "random serial");
  bytes[0] &= 0x7f;
  if (bytes[0] == 0) bytes[0] = 0x01;  // keeps it non-zero and a full 16 bytes
  const bignum_ptr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  asn1_integer_ptr serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!serial) throw_openssl("", "random serial");
  return serial;
}

cert_builder::cert_builder() : cert_(X509_new()) {
  if (!cert_ || X509_set_version(cert_.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert_.get(), random_serial().get()) != 1) {
    throw_openssl("", "new certificate");
  }
}

cert_builder& cert_builder::subject_cn(std::string_view common_name) {
  X509_NAME* name = X509_get_subject_name(cert_.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    throw_openssl("", "certificate subject CN");
  }
  return *this;
}

cert_builder& cert_builder::validity(std::time_t not_before, std::time_t not_after) {
  if (!ASN1_TIME_set(X509_getm_notBefore(cert_.get()), not_before) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert_.get()), not_after)) {
    throw_openssl("", "certificate validity");
  }
  return *this;
}

cert_builder& cert_builder::public_key(EVP_PKEY* key) {
  if (X509_set_pubkey(cert_.get(), key) != 1) throw_openssl("", "certificate public key");
  return *this;
}

cert_builder& cert_builder::issued_by(X509* issuer) {
  issuer_ = issuer;
  return *this;
}

cert_builder& cert_builder::extension(int nid, std::string value) {
  extensions_.emplace_back(nid, std::move(value));
  return *this;
}

x509_ptr cert_builder::sign(EVP_PKEY* signing_key, const EVP_MD* digest) {
  X509* issuer = issuer_ != nullptr ? issuer_ : cert_.get();
  if (X509_set_issuer_name(cert_.get(), X509_get_subject_name(issuer)) != 1) throw_openssl("", "certificate issuer");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert_.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions_) {
    const extension_ptr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert_.get(), ext.get(), -1) != 1) {
      throw_openssl("", std::string("certificate extension ") + OBJ_nid2sn(nid) + "=" + value);
    }
  }
  if (X509_sign(cert_.get(), signing_key, digest) <= 0) throw_openssl("", "signing the certificate");
  return std::move(cert_);
}

}  // namespace mcpgate::pki
