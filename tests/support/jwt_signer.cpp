#include "support/jwt_signer.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>

#include <stdexcept>

#include "core/base64.hpp"

namespace mcpgate::test {

namespace {

std::shared_ptr<EVP_PKEY> generate(const char* type, const char* param = nullptr, int bits = 0) {
  EVP_PKEY* key = nullptr;
  if (bits > 0) key = EVP_PKEY_Q_keygen(nullptr, nullptr, type, static_cast<size_t>(bits));
  else if (param) key = EVP_PKEY_Q_keygen(nullptr, nullptr, type, param);
  else key = EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  if (!key) throw std::runtime_error("key generation failed");
  return {key, EVP_PKEY_free};
}

std::string b64(std::string_view bytes) { return core::base64url_encode(bytes); }

std::string bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw std::runtime_error("no key parameter");
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

std::string padded(std::string bytes, std::size_t size) {
  if (bytes.size() < size) bytes.insert(0, size - bytes.size(), '\0');
  return bytes;
}

std::size_t ec_half(const std::string& alg) { return alg == "ES384" ? 48 : 32; }

}  // namespace

signing_key signing_key::ec_p256(std::string kid) { return {std::move(kid), "ES256", generate("EC", "P-256")}; }
signing_key signing_key::ec_p384(std::string kid) { return {std::move(kid), "ES384", generate("EC", "P-384")}; }
signing_key signing_key::rsa(std::string kid, int bits, std::string alg) {
  return {std::move(kid), std::move(alg), generate("RSA", nullptr, bits)};
}
signing_key signing_key::ed25519(std::string kid) { return {std::move(kid), "EdDSA", generate("ED25519")}; }

boost::json::object signing_key::jwk() const {
  boost::json::object o;
  o["kid"] = kid;
  o["alg"] = alg;
  o["use"] = "sig";
  if (alg == "ES256" || alg == "ES384") {
    o["kty"] = "EC";
    o["crv"] = alg == "ES256" ? "P-256" : "P-384";
    o["x"] = b64(padded(bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_X), ec_half(alg)));
    o["y"] = b64(padded(bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y), ec_half(alg)));
  } else if (alg == "EdDSA") {
    o["kty"] = "OKP";
    o["crv"] = "Ed25519";
    std::string raw(32, '\0');
    std::size_t size = raw.size();
    EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(raw.data()), &size);
    o["x"] = b64(raw);
  } else {
    o["kty"] = "RSA";
    o["n"] = b64(bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N));
    o["e"] = b64(bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E));
  }
  return o;
}

std::string signing_key::public_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key.get());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string signing_key::public_der() const {
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key.get(), &der);
  if (n <= 0) throw std::runtime_error("cannot encode the public key");
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return out;
}

std::string signing_key::sign(const boost::json::object& claims, const boost::json::object& header_extra) const {
  boost::json::object header{{"alg", alg}, {"kid", kid}, {"typ", "at+jwt"}};
  for (const auto& [k, v] : header_extra) header[k] = v;
  const std::string input = b64(boost::json::serialize(header)) + "." + b64(boost::json::serialize(claims));
  const EVP_MD* md = EVP_sha256();
  if (alg == "EdDSA") md = nullptr;  // Ed25519 hashes internally
  else if (alg.ends_with("384")) md = EVP_sha384();
  else if (alg.ends_with("512")) md = EVP_sha512();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  EVP_DigestSignInit(ctx, &pctx, md, nullptr, key.get());
  if (alg.starts_with("PS")) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  std::size_t size = 0;
  EVP_DigestSign(ctx, nullptr, &size, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string signature(size, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &size,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  signature.resize(size);
  EVP_MD_CTX_free(ctx);
  if (alg.starts_with("ES") && jws_ecdsa_form) {
    // DER -> r || s, as JWS wants it.
    const auto half = static_cast<int>(ec_half(alg));
    const auto* p = reinterpret_cast<const unsigned char*>(signature.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size()));
    std::string raw(2 * static_cast<std::size_t>(half), '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), half);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + half, half);
    ECDSA_SIG_free(sig);
    signature = raw;
  }
  return input + "." + b64(signature);
}

std::string jwks_json(const std::vector<const signing_key*>& keys) {
  boost::json::array list;
  for (const auto* k : keys) list.push_back(k->jwk());
  return boost::json::serialize(boost::json::object{{"keys", list}});
}

std::string assemble_token(const boost::json::object& header, const boost::json::object& claims,
                           const std::string& signature) {
  return b64(boost::json::serialize(header)) + "." + b64(boost::json::serialize(claims)) + "." + b64(signature);
}

std::string hs256_token(const boost::json::object& claims, const std::string& secret, const std::string& kid) {
  const boost::json::object header{{"alg", "HS256"}, {"kid", kid}, {"typ", "JWT"}};
  const std::string input = b64(boost::json::serialize(header)) + "." + b64(boost::json::serialize(claims));
  unsigned char mac[32];
  std::size_t size = sizeof mac;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac, &size);
  return input + "." + b64(std::string(reinterpret_cast<const char*>(mac), size));
}

}  // namespace mcpgate::test
