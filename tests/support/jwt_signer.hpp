// Test-side issuer of JWTs: fresh keys made with OpenSSL, their public JWKs, and compact
// tokens signed with them (or deliberately broken), so tests of the gateway's verifier use
// real signatures and never checked-in key material.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

typedef struct evp_pkey_st EVP_PKEY;

namespace mcpgate::test {

struct signing_key {
  static signing_key ec_p256(std::string kid);
  static signing_key ec_p384(std::string kid);
  static signing_key rsa(std::string kid, int bits = 2048, std::string alg = "RS256");  // RS* or PS*
  static signing_key ed25519(std::string kid);

  std::string kid;
  std::string alg;  // "ES256", "ES384", "RS256" ... "PS512", "EdDSA"
  std::shared_ptr<EVP_PKEY> key;
  // false: ES* signatures stay in OpenSSL's DER form instead of JWS's r || s (a mistake
  // some issuers make, which must not verify).
  bool jws_ecdsa_form = true;

  // The public key as a JWK object (kid, alg, use sig).
  boost::json::object jwk() const;
  // The public key as PEM (SubjectPublicKeyInfo): what an HS256-confusion attack uses as
  // the HMAC secret.
  std::string public_pem() const;
  std::string public_der() const;  // the same SubjectPublicKeyInfo, DER
  // header {alg, kid, typ at+jwt} + `header_extra`, then the claims; signed.
  std::string sign(const boost::json::object& claims, const boost::json::object& header_extra = {}) const;
};

std::string jwks_json(const std::vector<const signing_key*>& keys);
// A token with `header` and `claims` as given and `signature` bytes (base64url-encoded here).
std::string assemble_token(const boost::json::object& header, const boost::json::object& claims,
                           const std::string& signature);
// HS256 over the token with `secret` as the HMAC key.
std::string hs256_token(const boost::json::object& claims, const std::string& secret, const std::string& kid);

}  // namespace mcpgate::test
