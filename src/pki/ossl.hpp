// Ownership of OpenSSL objects: one unique_ptr alias per type, freed by its own free
// function, so no early return or exception can leak a key or a certificate.
#pragma once

#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace mcpgate::pki {

template <class T, void (*Free)(T*)>
struct ossl_deleter {
  void operator()(T* p) const noexcept { Free(p); }
};

using x509_ptr = std::unique_ptr<X509, ossl_deleter<X509, X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, ossl_deleter<EVP_PKEY, EVP_PKEY_free>>;
using bio_ptr = std::unique_ptr<BIO, ossl_deleter<BIO, BIO_free_all>>;
using bignum_ptr = std::unique_ptr<BIGNUM, ossl_deleter<BIGNUM, BN_free>>;
using asn1_integer_ptr = std::unique_ptr<ASN1_INTEGER, ossl_deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using asn1_time_ptr = std::unique_ptr<ASN1_TIME, ossl_deleter<ASN1_TIME, ASN1_TIME_free>>;
using extension_ptr = std::unique_ptr<X509_EXTENSION, ossl_deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using basic_constraints_ptr = std::unique_ptr<BASIC_CONSTRAINTS, ossl_deleter<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>>;
using general_names_ptr = std::unique_ptr<GENERAL_NAMES, ossl_deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
using eku_ptr = std::unique_ptr<EXTENDED_KEY_USAGE, ossl_deleter<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>>;
using octet_string_ptr = std::unique_ptr<ASN1_OCTET_STRING, ossl_deleter<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>>;
using akid_ptr = std::unique_ptr<AUTHORITY_KEYID, ossl_deleter<AUTHORITY_KEYID, AUTHORITY_KEYID_free>>;
using bit_string_ptr = std::unique_ptr<ASN1_BIT_STRING, ossl_deleter<ASN1_BIT_STRING, ASN1_BIT_STRING_free>>;

}  // namespace mcpgate::pki
