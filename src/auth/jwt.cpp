// Compact JWS tokens: decoding, signature checks, claims (RFC 7515, 7519, 9068).
#include "auth/jwt.hpp"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/base64.hpp"
#include "pki/text.hpp"

namespace mcpgate::auth {

namespace {

using json_object = boost::json::object;

decode_result refuse(std::string reason, std::string detail = {}) {
  decode_result r;
  r.refusal = {std::move(reason), std::move(detail)};
  return r;
}

std::optional<json_object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 16;
  auto value = boost::json::parse(text, ec, {}, options);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.get_object());
}

// NumericDate (RFC 7519 2): a JSON number of seconds; fractions allowed, truncated.
// nullopt + `bad` when present but not a usable number.
std::optional<std::int64_t> numeric_date(const json_object& o, std::string_view name, bool& bad) {
  const auto* v = o.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64() && v->get_int64() >= 0) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(v->get_uint64());
  }
  if (v->is_double()) {
    const double d = v->get_double();
    if (std::isfinite(d) && d >= 0 && d < 9.0e18) return static_cast<std::int64_t>(d);
  }
  bad = true;
  return std::nullopt;
}

bool read_string_claim(const json_object& o, std::string_view name, std::string& out) {
  const auto* v = o.if_contains(name);
  if (!v) return true;
  if (!v->is_string()) return false;
  out = std::string(v->get_string());
  return true;
}

void split_scopes(std::string_view text, std::vector<std::string>& out) {
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = std::min(text.find(' ', at), text.size());
    if (end > at) out.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
}

// Claim `name` as a string (one value, or split at spaces when `split`) or an array of
// strings, appended to `out`; false (with `why`) for any other shape.
bool read_list_claim(const json_object& o, std::string_view name, bool split, std::vector<std::string>& out,
                     std::string& why) {
  const auto* v = o.if_contains(name);
  if (!v) return true;
  if (v->is_string()) {
    if (split) split_scopes(std::string_view(v->get_string()), out);
    else out.emplace_back(v->get_string());
    return true;
  }
  if (!v->is_array()) {
    why.assign(name).append(" is neither a string nor an array");
    return false;
  }
  for (const auto& item : v->get_array()) {
    if (!item.is_string()) {
      why.assign(name).append(" holds a non-string");
      return false;
    }
    out.emplace_back(item.get_string());
  }
  return true;
}

// The payload's claims; false when one has the wrong type.
bool read_claims(const json_object& o, token_claims& c, std::string& why) {
  if (!read_string_claim(o, "iss", c.issuer) || !read_string_claim(o, "sub", c.subject) ||
      !read_string_claim(o, "jti", c.jwt_id)) {
    why = "iss, sub or jti is not a string";
    return false;
  }
  if (!read_string_claim(o, "client_id", c.client_id)) {
    why = "client_id is not a string";
    return false;
  }
  if (c.client_id.empty() && !read_string_claim(o, "azp", c.client_id)) {
    why = "azp is not a string";
    return false;
  }
  if (!read_list_claim(o, "aud", false, c.audience, why)) return false;
  if (const auto* scope = o.if_contains("scope")) {
    if (!scope->is_string()) {
      why = "scope is not a string";
      return false;
    }
    split_scopes(std::string_view(scope->get_string()), c.scopes);
  } else if (!read_list_claim(o, "scp", true, c.scopes, why)) {
    return false;
  }
  bool bad = false;
  c.expires_at = numeric_date(o, "exp", bad);
  c.not_before = numeric_date(o, "nbf", bad);
  c.issued_at = numeric_date(o, "iat", bad);
  if (bad) {
    why = "exp, nbf or iat is not a non-negative number";
    return false;
  }
  return true;
}

const EVP_MD* digest_of(jws_alg alg) {
  switch (alg) {
    case jws_alg::rs256:
    case jws_alg::ps256:
    case jws_alg::es256: return EVP_sha256();
    case jws_alg::rs384:
    case jws_alg::ps384:
    case jws_alg::es384: return EVP_sha384();
    case jws_alg::rs512:
    case jws_alg::ps512: return EVP_sha512();
    case jws_alg::eddsa: return nullptr;  // Ed25519 hashes internally
  }
  return nullptr;
}

// JWS carries ECDSA signatures as r || s, fixed width; OpenSSL wants DER.
std::optional<std::string> ecdsa_der(std::string_view raw, std::size_t half) {
  if (raw.size() != 2 * half) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (!sig) return std::nullopt;
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data() + half), static_cast<int>(half), nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int n = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (n <= 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return out;
}

std::string seconds_text(std::int64_t s) { return std::to_string(s) + " s"; }

}  // namespace

bool read_token_claims(const boost::json::object& o, token_claims& c, std::string& why) {
  return read_claims(o, c, why);
}

decode_result decode_jwt(std::string_view compact) {
  if (compact.size() > max_token_bytes) {
    return refuse("too_large", std::to_string(compact.size()) + " bytes (at most " + std::to_string(max_token_bytes) + ")");
  }
  const auto first = compact.find('.');
  const auto second = first == std::string_view::npos ? first : compact.find('.', first + 1);
  if (second == std::string_view::npos || compact.find('.', second + 1) != std::string_view::npos) {
    return refuse("malformed", "not three dot-separated parts");
  }
  const auto header_b64 = compact.substr(0, first);
  const auto payload_b64 = compact.substr(first + 1, second - first - 1);
  const auto signature_b64 = compact.substr(second + 1);
  const auto header_text = core::base64url_decode(header_b64);
  const auto payload_text = core::base64url_decode(payload_b64);
  const auto signature = core::base64url_decode(signature_b64);
  if (!header_text || !payload_text || !signature || header_b64.empty() || payload_b64.empty()) {
    return refuse("malformed", "a part is not unpadded base64url");
  }
  const auto header = parse_object(*header_text);
  if (!header) return refuse("malformed", "the header is not a JSON object");
  const auto* alg_value = header->if_contains("alg");
  if (!alg_value || !alg_value->is_string()) return refuse("malformed", "the header has no alg");
  const std::string alg_name(alg_value->get_string());
  const auto alg = parse_alg(alg_name);
  if (!alg) return refuse("alg_not_allowed", "alg " + pki::printable(alg_name, 16) + " is not accepted");
  // Extensions we would have to understand to verify correctly: none are.
  if (header->contains("crit")) return refuse("malformed", "the header has crit extensions");
  decoded_jwt out;
  out.alg = *alg;
  if (!read_string_claim(*header, "kid", out.kid) || !read_string_claim(*header, "typ", out.typ)) {
    return refuse("malformed", "kid or typ is not a string");
  }
  if (signature->empty()) return refuse("malformed", "no signature");
  const auto payload = parse_object(*payload_text);
  if (!payload) return refuse("malformed", "the payload is not a JSON object");
  std::string why;
  if (!read_claims(*payload, out.claims, why)) return refuse("malformed", why);
  out.signing_input = std::string(compact.substr(0, second));
  out.signature = std::move(*signature);
  decode_result r;
  r.token = std::move(out);
  return r;
}

bool verify_signature(const decoded_jwt& token, const jwk& key) {
  if (!key.key || !key.usable_for(token.alg)) return false;
  std::string der;
  std::string_view signature = token.signature;
  if (token.alg == jws_alg::es256 || token.alg == jws_alg::es384) {
    auto converted = ecdsa_der(signature, token.alg == jws_alg::es256 ? 32 : 48);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, digest_of(token.alg), nullptr, key.key.get()) != 1) return false;
  const bool pss = token.alg == jws_alg::ps256 || token.alg == jws_alg::ps384 || token.alg == jws_alg::ps512;
  if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return false;
  }
  const int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                  reinterpret_cast<const unsigned char*>(token.signing_input.data()),
                                  token.signing_input.size());
  return ok == 1;
}

std::optional<jwt_refusal> check_claims(const token_claims& claims, const claim_rules& rules,
                                        std::chrono::system_clock::time_point now) {
  // A token without iss never matches, even should the configured issuer be empty.
  if (claims.issuer.empty() || claims.issuer != rules.issuer) {
    return jwt_refusal{"wrong_issuer", "iss is not the configured issuer"};
  }
  const bool audience_ok = std::any_of(claims.audience.begin(), claims.audience.end(), [&](const std::string& a) {
    return std::find(rules.audiences.begin(), rules.audiences.end(), a) != rules.audiences.end();
  });
  if (!audience_ok) {
    return jwt_refusal{"wrong_audience", claims.audience.empty() ? "no aud" : "aud does not name this resource"};
  }
  return check_times(claims, rules.leeway, rules.require_exp, now);
}

std::optional<jwt_refusal> check_times(const token_claims& claims, std::chrono::seconds leeway_seconds, bool require_exp,
                                       std::chrono::system_clock::time_point now) {
  const std::int64_t t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::int64_t leeway = leeway_seconds.count();
  if (!claims.expires_at) {
    if (require_exp) return jwt_refusal{"missing_claim", "no exp"};
  } else if (*claims.expires_at <= t - leeway) {
    return jwt_refusal{"expired", "exp is " + seconds_text(t - *claims.expires_at) + " in the past"};
  }
  if (claims.not_before && *claims.not_before > t + leeway) {
    return jwt_refusal{"not_yet_valid", "nbf is " + seconds_text(*claims.not_before - t) + " in the future"};
  }
  if (claims.issued_at && *claims.issued_at > t + leeway) {
    return jwt_refusal{"issued_in_future", "iat is " + seconds_text(*claims.issued_at - t) + " in the future"};
  }
  return std::nullopt;
}

verify_result verify_jwt(std::string_view compact, const jwk_set& keys, const claim_rules& rules,
                         std::chrono::system_clock::time_point now) {
  verify_result result;
  auto decoded = decode_jwt(compact);
  if (!decoded.token) {
    result.refusal = std::move(decoded.refusal);
    return result;
  }
  const auto& token = *decoded.token;
  const auto candidates = keys.candidates(token.kid);
  if (candidates.empty()) {
    result.refusal = {"unknown_kid", token.kid.empty() ? "the issuer has no keys" : "no key with this kid"};
    return result;
  }
  const bool verified = std::any_of(candidates.begin(), candidates.end(),
                                    [&](const jwk* k) { return verify_signature(token, *k); });
  if (!verified) {
    const bool any_usable = std::any_of(candidates.begin(), candidates.end(),
                                        [&](const jwk* k) { return k->usable_for(token.alg); });
    result.refusal = {"bad_signature", any_usable ? "the signature does not verify"
                                                  : std::string("no key of this kid is for ") + to_string(token.alg)};
    return result;
  }
  // Only a token whose signature verified gets its claims looked at.
  if (auto refusal = check_claims(token.claims, rules, now)) {
    result.refusal = std::move(*refusal);
    return result;
  }
  result.claims = token.claims;
  return result;
}

}  // namespace mcpgate::auth
