// JSON Web Tokens as an OAuth 2.1 resource server meets them: compact JWS (RFC 7515) with
// asymmetric signatures only, keys from the issuer's JWKS (RFC 7517), claims checked as
// RFC 9068 / the MCP authorization spec require.
//
// Nothing here does I/O: keys come in as a parsed `jwk_set` (see key_source.hpp for where
// they are fetched), tokens as the string after "Bearer ". Every function treats its input
// as hostile: bounded sizes, no exceptions escape, every refusal names its reason.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace boost::json {
class object;
}

namespace mcpgate::auth {

// Signature algorithms accepted. HMAC (HS*) and "none" are never accepted: a resource
// server holds no shared secret, and accepting HS256 keyed with a public key is the classic
// algorithm-confusion forgery.
enum class jws_alg { rs256, rs384, rs512, ps256, ps384, ps512, es256, es384, eddsa };

std::optional<jws_alg> parse_alg(std::string_view name);  // "RS256" ... "EdDSA"; nullopt otherwise
const char* to_string(jws_alg alg);

// One verification key from a JWKS.
struct jwk {
  std::string kid;   // "" when the key has none
  std::string kty;   // "RSA", "EC" or "OKP"
  std::string crv;   // "P-256", "P-384", "Ed25519"; "" for RSA
  std::optional<jws_alg> alg;  // the key's `alg`, when it names one
  std::shared_ptr<EVP_PKEY> key;
  // Whether a token signed with `a` may be checked with this key: the key type fits the
  // algorithm (RSA for RS/PS, EC of the right curve for ES, Ed25519 for EdDSA) and the key's
  // own `alg`, when set, is `a`.
  bool usable_for(jws_alg a) const;
};

struct jwk_set {
  std::vector<jwk> keys;
  // Keys whose `kid` is `kid` ("" = every key without a kid... and, when the token names
  // no kid, every key).
  std::vector<const jwk*> candidates(std::string_view kid) const;
};

// Parses a JWKS document ({"keys": [...]}). Keys that cannot verify signatures here (`use`
// other than "sig", symmetric "oct" keys, unknown kty or curve, RSA under 2048 bits, an
// `alg` the key type cannot do, malformed members) are skipped and described in `skipped`;
// private parts present are ignored but allowed. The document itself being malformed (not
// JSON, no "keys" array, over `max_jwks_bytes`) is an error.
struct jwk_set_result {
  std::optional<jwk_set> set;
  std::string error;                  // when !set
  std::vector<std::string> skipped;   // "key 2 (kid=abc): use is enc", ...
};
constexpr std::size_t max_jwks_bytes = 512 * 1024;
jwk_set_result parse_jwk_set(std::string_view json);

// What a verified token says about its holder (the identity policy rules see).
struct token_claims {
  std::string issuer;                 // iss
  std::string subject;                // sub
  std::vector<std::string> audience;  // aud (a string becomes one element)
  std::string client_id;              // client_id, else azp
  std::vector<std::string> scopes;    // `scope` (space separated) or `scp` (array or string)
  std::optional<std::int64_t> expires_at, not_before, issued_at;  // seconds since the epoch
  std::string jwt_id;                 // jti
};

// The claims above from a JSON object (a JWT payload, an RFC 7662 introspection answer);
// false, with `why`, when one has the wrong type.
bool read_token_claims(const boost::json::object& o, token_claims& c, std::string& why);

// A token split and decoded but not yet trusted.
struct decoded_jwt {
  jws_alg alg{};
  std::string kid;
  std::string typ;              // header typ ("at+jwt", "JWT", ...) as written
  std::string signing_input;    // base64url(header) "." base64url(payload)
  std::string signature;        // raw bytes (ES*: r || s as JWS writes it)
  token_claims claims;
};

constexpr std::size_t max_token_bytes = 16 * 1024;

// Why a token was refused: stable strings for logs, metrics and the WWW-Authenticate
// error_description. Every refusal of the MCP spec's "invalid or expired" kind.
struct jwt_refusal {
  std::string reason;   // "malformed", "alg_not_allowed", "unknown_kid", "bad_signature",
                        // "expired", "not_yet_valid", "issued_in_future", "wrong_issuer",
                        // "wrong_audience", "too_large", "missing_claim"
  std::string detail;   // for the log: "exp 1700000000 is 42 s in the past"
};

struct decode_result {
  std::optional<decoded_jwt> token;
  jwt_refusal refusal;  // when !token
};
// Splits and decodes; checks structure only (3 base64url parts without padding, JSON
// objects, a supported alg, no `crit`, sizes). Never verifies.
// A member named twice in the header or the payload is not refused: Boost.JSON keeps the
// last one and cannot report duplicates without a second, hand-written parse. RFC 7515 4 and
// RFC 7519 4 allow exactly that ("the lexically last duplicate member name"), and the
// signature covers the bytes, so only the issuer can write such a token.
decode_result decode_jwt(std::string_view compact);

// True when `signature` over `signing_input` verifies with `key` for `alg` (ES*: the JWS
// r || s form, converted to DER for OpenSSL; PS*: salt length = hash length). Never throws.
bool verify_signature(const decoded_jwt& token, const jwk& key);

struct claim_rules {
  std::string issuer;                  // iss must equal this exactly (a missing iss never does)
  // aud must contain one of these, compared byte for byte: the caller normalises (trailing
  // slash, case of the host) when it builds this list, as tokens are never rewritten.
  std::vector<std::string> audiences;
  std::chrono::seconds leeway{60};     // allowed clock skew for exp / nbf / iat
  bool require_exp = true;
};
// Checks iss, aud, exp, nbf, iat (iat more than `leeway` in the future is refused).
// The time claims alone (exp, nbf, iat): what can change for a token already checked.
std::optional<jwt_refusal> check_times(const token_claims& claims, std::chrono::seconds leeway, bool require_exp,
                                       std::chrono::system_clock::time_point now);
std::optional<jwt_refusal> check_claims(const token_claims& claims, const claim_rules& rules,
                                        std::chrono::system_clock::time_point now);

struct verify_result {
  std::optional<token_claims> claims;
  jwt_refusal refusal;  // when !claims
};
// decode + find a usable key by kid + signature + claims, in that order. A token whose kid
// is in no key of `keys` is refused with reason "unknown_kid" (the caller may refresh the
// keys and try once more).
verify_result verify_jwt(std::string_view compact, const jwk_set& keys, const claim_rules& rules,
                         std::chrono::system_clock::time_point now);

}  // namespace mcpgate::auth
