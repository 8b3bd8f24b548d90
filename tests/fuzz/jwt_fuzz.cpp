// Fuzz target for the JWT verifier (what a client puts after "Bearer ") and the JWKS parser
// (what an issuer serves). The input is a token, optionally followed by a 0 byte and a JWKS
// document. Invariants: no crash; every refusal and every JWKS error says why; a token
// accepted by verify_jwt also decodes; a refusal never quotes the token's signature; every key
// parse_jwk_set keeps holds an OpenSSL key usable for some algorithm.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"

namespace {

using namespace mcpgate::auth;

// Public keys only (ES256, RSA 2048 without alg, Ed25519); the seed corpus holds tokens
// signed by their private halves, which were thrown away.
constexpr std::string_view fixed_jwks = R"json({"keys": [
  {"kty":"EC","crv":"P-256","kid":"ec","alg":"ES256","use":"sig","x":"uZKGZs_RBjuqKliwjLEBRB40PSFbYInjRLcTJljy_GQ","y":"3_LUINsz5jtdDCLbWmBIIlzMVUG1AQdkxEX_6FMUJPw"},
  {"kty":"RSA","kid":"rsa","n":"nvKvuPkoA1wxsZRwBZ-c8vy7MXd2SdueHncT0_mdFMV2ySTRjLmFiPZa0eVwY_wIzX6G-2oTIAHvi9U5RdDiar1Pwul7tOYeQO4YQXPhv95QsxZ9QVzMfEjURpVqOnZWsw6z_dpU94d56gyeW8DL1B1aFxlEPRiymt1NvA6VhuPzfWrxE3YWpoEm5Z-pmz1hgwAeYtAPJBNbvmkA7zEMK77g2Xw4mkBrxklHWvimuIIN9AAsLM1gs0ucs6Ud4tTHgCgm7e_wdR94PVJD7OGhiaSCgPuxlLdSo0HkZExa6V6CSgxQ3gNHg-pagAGNrr07asnL2nWsqZlz3Ebu6WXzEQ","e":"AQAB"},
  {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"I-eLaatgPn4H-9H1eZS64oN3kq650Q0SIRrs92dE8ik"}
]})json";

// Built once and never changed: calls share no mutable state.
const jwk_set& fixed_keys() {
  static const jwk_set keys = [] {
    auto parsed = parse_jwk_set(fixed_jwks);
    if (!parsed.set || parsed.set->keys.size() != 3) __builtin_trap();
    return *parsed.set;
  }();
  return keys;
}

const claim_rules& rules() {
  static const claim_rules r{"https://auth.example.com", {"https://mcp.example.com/mcp"}, std::chrono::seconds(60), true};
  return r;
}

const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

bool usable_for_some_alg(const jwk& k) {
  for (auto a : {jws_alg::rs256, jws_alg::rs384, jws_alg::rs512, jws_alg::ps256, jws_alg::ps384, jws_alg::ps512,
                 jws_alg::es256, jws_alg::es384, jws_alg::eddsa}) {
    if (k.usable_for(a)) return true;
  }
  return false;
}

void check_verify(std::string_view token, const jwk_set& keys, bool decodes) {
  const auto v = verify_jwt(token, keys, rules(), now);
  if (v.claims) {
    if (!decodes) __builtin_trap();
    return;
  }
  if (v.refusal.reason.empty()) __builtin_trap();
  // The signature part never reaches the detail. Checked only when it looks like one:
  // base64url (the messages' own words are separated by spaces) and longer than the 16
  // characters of a refused alg the detail may quote.
  const auto dot = token.rfind('.');
  if (dot == std::string_view::npos) return;
  const auto signature = token.substr(dot + 1);
  const bool b64url = std::all_of(signature.begin(), signature.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  if (b64url && signature.size() > 16 && v.refusal.detail.find(signature) != std::string::npos) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto zero = input.find('\0');
  const auto token = input.substr(0, zero);

  const auto decoded = decode_jwt(token);
  if (decoded.token) {
    const auto& d = *decoded.token;
    if (token.size() > max_token_bytes || d.signature.empty() || !token.starts_with(d.signing_input) ||
        token[d.signing_input.size()] != '.') {
      __builtin_trap();
    }
  } else if (decoded.refusal.reason.empty()) {
    __builtin_trap();
  }
  check_verify(token, fixed_keys(), decoded.token.has_value());

  if (zero == std::string_view::npos) return 0;
  const auto jwks = parse_jwk_set(input.substr(zero + 1));
  if (!jwks.set) {
    if (jwks.error.empty()) __builtin_trap();
    return 0;
  }
  for (const auto& k : jwks.set->keys) {
    if (!k.key || !usable_for_some_alg(k)) __builtin_trap();
  }
  for (const auto& why : jwks.skipped) {
    if (why.empty()) __builtin_trap();
  }
  check_verify(token, *jwks.set, decoded.token.has_value());
  return 0;
}
