// JWKS documents into OpenSSL keys (RFC 7517 / 7518 / 8037).
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <boost/json.hpp>

#include "auth/jwt.hpp"
#include "core/base64.hpp"
#include "pki/text.hpp"

namespace mcpgate::auth {

namespace {

using json_object = boost::json::object;

struct param_build_deleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct params_deleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct ctx_deleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct bn_deleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};

std::shared_ptr<EVP_PKEY> adopt(EVP_PKEY* key) { return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free); }

std::optional<std::string> member_bytes(const json_object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  return core::base64url_decode(std::string_view(v->get_string()));
}

std::string member_text(const json_object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::shared_ptr<EVP_PKEY> from_params(const char* type, OSSL_PARAM_BLD* builder) {
  std::unique_ptr<OSSL_PARAM, params_deleter> params(OSSL_PARAM_BLD_to_param(builder));
  std::unique_ptr<EVP_PKEY_CTX, ctx_deleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  return adopt(key);
}

// nullopt + why: the key is skipped.
std::shared_ptr<EVP_PKEY> rsa_key(const json_object& o, std::string& why) {
  const auto n = member_bytes(o, "n");
  const auto e = member_bytes(o, "e");
  if (!n || !e || n->empty() || e->empty()) {
    why = "n or e missing or not base64url";
    return nullptr;
  }
  if (n->size() > 1024 || e->size() > 8) {
    why = "RSA key too large";
    return nullptr;
  }
  std::unique_ptr<BIGNUM, bn_deleter> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr));
  std::unique_ptr<BIGNUM, bn_deleter> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr));
  // Counted on the number, not the bytes: leading zero bytes would pad a short modulus.
  if (bn_n && BN_num_bits(bn_n.get()) < 2048) {
    why = "RSA key of " + std::to_string(BN_num_bits(bn_n.get())) + " bits (at least 2048 needed)";
    return nullptr;
  }
  std::unique_ptr<OSSL_PARAM_BLD, param_build_deleter> builder(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    why = "cannot build the RSA key";
    return nullptr;
  }
  auto key = from_params("RSA", builder.get());
  if (!key) why = "OpenSSL refused the RSA key";
  return key;
}

std::shared_ptr<EVP_PKEY> ec_key(const json_object& o, const std::string& crv, std::string& why) {
  const char* group = crv == "P-256" ? "prime256v1" : crv == "P-384" ? "secp384r1" : nullptr;
  const std::size_t size = crv == "P-256" ? 32 : 48;
  if (!group) {
    why = "unsupported curve \"" + pki::printable(crv, 32) + "\"";
    return nullptr;
  }
  const auto x = member_bytes(o, "x");
  const auto y = member_bytes(o, "y");
  if (!x || !y || x->size() != size || y->size() != size) {
    why = "x or y missing or not " + std::to_string(size) + " bytes";
    return nullptr;
  }
  const std::string point = std::string(1, '\x04') + *x + *y;  // uncompressed form
  std::unique_ptr<OSSL_PARAM_BLD, param_build_deleter> builder(OSSL_PARAM_BLD_new());
  if (!builder || OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    why = "cannot build the EC key";
    return nullptr;
  }
  // fromdata checks that the point is on the curve.
  auto key = from_params("EC", builder.get());
  if (!key) why = "the point is not on " + crv;
  return key;
}

std::shared_ptr<EVP_PKEY> okp_key(const json_object& o, const std::string& crv, std::string& why) {
  if (crv != "Ed25519") {
    why = "unsupported curve \"" + pki::printable(crv, 32) + "\"";
    return nullptr;
  }
  const auto x = member_bytes(o, "x");
  if (!x || x->size() != 32) {
    why = "x missing or not 32 bytes";
    return nullptr;
  }
  auto* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()),
                                          x->size());
  if (!key) why = "OpenSSL refused the Ed25519 key";
  return key ? adopt(key) : nullptr;
}

}  // namespace

std::optional<jws_alg> parse_alg(std::string_view name) {
  if (name == "RS256") return jws_alg::rs256;
  if (name == "RS384") return jws_alg::rs384;
  if (name == "RS512") return jws_alg::rs512;
  if (name == "PS256") return jws_alg::ps256;
  if (name == "PS384") return jws_alg::ps384;
  if (name == "PS512") return jws_alg::ps512;
  if (name == "ES256") return jws_alg::es256;
  if (name == "ES384") return jws_alg::es384;
  if (name == "EdDSA") return jws_alg::eddsa;
  return std::nullopt;
}

const char* to_string(jws_alg alg) {
  switch (alg) {
    case jws_alg::rs256: return "RS256";
    case jws_alg::rs384: return "RS384";
    case jws_alg::rs512: return "RS512";
    case jws_alg::ps256: return "PS256";
    case jws_alg::ps384: return "PS384";
    case jws_alg::ps512: return "PS512";
    case jws_alg::es256: return "ES256";
    case jws_alg::es384: return "ES384";
    case jws_alg::eddsa: return "EdDSA";
  }
  return "?";
}

bool jwk::usable_for(jws_alg a) const {
  if (alg && *alg != a) return false;
  switch (a) {
    case jws_alg::rs256:
    case jws_alg::rs384:
    case jws_alg::rs512:
    case jws_alg::ps256:
    case jws_alg::ps384:
    case jws_alg::ps512: return kty == "RSA";
    case jws_alg::es256: return kty == "EC" && crv == "P-256";
    case jws_alg::es384: return kty == "EC" && crv == "P-384";
    case jws_alg::eddsa: return kty == "OKP" && crv == "Ed25519";
  }
  return false;
}

std::vector<const jwk*> jwk_set::candidates(std::string_view kid) const {
  std::vector<const jwk*> out;
  for (const auto& k : keys) {
    if (kid.empty() || k.kid == kid) out.push_back(&k);
  }
  return out;
}

jwk_set_result parse_jwk_set(std::string_view json) {
  jwk_set_result result;
  if (json.size() > max_jwks_bytes) {
    result.error = "JWKS document over " + std::to_string(max_jwks_bytes / 1024) + " KiB";
    return result;
  }
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 16;
  auto doc = boost::json::parse(json, ec, {}, options);
  if (ec) {
    result.error = "JWKS is not JSON: " + ec.message();
    return result;
  }
  const auto* root = doc.if_object();
  const auto* keys = root ? root->if_contains("keys") : nullptr;
  if (!keys || !keys->is_array()) {
    result.error = "JWKS has no \"keys\" array";
    return result;
  }
  jwk_set set;
  std::size_t index = 0;
  for (const auto& value : keys->get_array()) {
    const auto at = index++;
    const auto* o = value.if_object();
    auto skip = [&](const std::string& kid, const std::string& why) {
      // The document is the issuer's, but it reaches the log: quoted text is made printable.
      result.skipped.push_back("key " + std::to_string(at) + (kid.empty() ? "" : " (kid=" + pki::printable(kid, 64) + ")") +
                               ": " + why);
    };
    if (!o) {
      skip("", "not an object");
      continue;
    }
    jwk k;
    k.kid = member_text(*o, "kid");
    k.kty = member_text(*o, "kty");
    k.crv = member_text(*o, "crv");
    if (const auto use = member_text(*o, "use"); !use.empty() && use != "sig") {
      skip(k.kid, "use is " + pki::printable(use, 32));
      continue;
    }
    if (const auto* alg = o->if_contains("alg")) {
      if (!alg->is_string()) {
        skip(k.kid, "alg is not a string");
        continue;
      }
      k.alg = parse_alg(std::string_view(alg->get_string()));
      if (!k.alg) {
        skip(k.kid, "alg " + pki::printable(alg->get_string(), 32) + " is not accepted");
        continue;
      }
    }
    std::string why;
    if (k.kty == "RSA") {
      k.crv.clear();
      k.key = rsa_key(*o, why);
    } else if (k.kty == "EC") {
      k.key = ec_key(*o, k.crv, why);
    } else if (k.kty == "OKP") {
      k.key = okp_key(*o, k.crv, why);
    } else {
      why = k.kty.empty() ? "no kty" : "kty " + pki::printable(k.kty, 32) + " cannot verify signatures here";
    }
    if (!k.key) {
      skip(k.kid, why);
      continue;
    }
    // Such a key would verify nothing; skipping it tells the operator why.
    if (k.alg && !k.usable_for(*k.alg)) {
      skip(k.kid, std::string("alg ") + to_string(*k.alg) + " does not fit an " + k.kty + (k.crv.empty() ? "" : " " + k.crv) +
                      " key");
      continue;
    }
    set.keys.push_back(std::move(k));
  }
  result.set = std::move(set);
  return result;
}

}  // namespace mcpgate::auth
