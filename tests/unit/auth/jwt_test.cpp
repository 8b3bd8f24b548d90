// The JWT verifier against real signatures (keys made at test time) and a corpus of
// forged, expired and malformed tokens, each refused for its own reason.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "auth/jwt.hpp"
#include "core/base64.hpp"
#include "support/jwt_signer.hpp"

namespace mcpgate::auth {
namespace {

using test::signing_key;
using namespace std::chrono_literals;

const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
constexpr std::int64_t t = 1'800'000'000;

std::string jwks_of(const boost::json::array& keys) { return boost::json::serialize(boost::json::object{{"keys", keys}}); }

// The same key under another kid, published without `alg`: usable for every RS* and PS*.
signing_key rsa_any_alg(const signing_key& rsa, std::string alg) {
  auto k = rsa;
  k.kid = "rsa-any";
  k.alg = std::move(alg);
  return k;
}

// The issuer's keys, made once for every test here: RSA key generation is slow.
struct issuer_keys {
  signing_key ec = signing_key::ec_p256("ec-1");
  signing_key ec384 = signing_key::ec_p384("ec384-1");
  signing_key rsa = signing_key::rsa("rsa-1");
  signing_key ps = signing_key::rsa("ps-1", 2048, "PS256");
  signing_key ed = signing_key::ed25519("ed-1");
};
const issuer_keys& issuer() {
  static const issuer_keys keys;
  return keys;
}

struct JwtVerifier : ::testing::Test {
  const signing_key& ec = issuer().ec;
  const signing_key& ec384 = issuer().ec384;
  const signing_key& rsa = issuer().rsa;
  const signing_key& ps = issuer().ps;
  const signing_key& ed = issuer().ed;
  jwk_set keys;
  claim_rules rules;

  void SetUp() override {
    auto any = rsa.jwk();
    any["kid"] = "rsa-any";
    any.erase("alg");
    auto parsed = parse_jwk_set(jwks_of({ec.jwk(), ec384.jwk(), rsa.jwk(), ps.jwk(), ed.jwk(), any}));
    ASSERT_TRUE(parsed.set) << parsed.error;
    ASSERT_EQ(parsed.set->keys.size(), 6u);
    ASSERT_TRUE(parsed.skipped.empty()) << parsed.skipped.front();
    keys = std::move(*parsed.set);
    rules.issuer = "https://auth.example.com";
    rules.audiences = {"https://mcp.example.com/mcp"};
  }

  static boost::json::object claims(boost::json::object extra = {}) {
    boost::json::object c{{"iss", "https://auth.example.com"}, {"sub", "alice"}, {"aud", "https://mcp.example.com/mcp"},
                          {"exp", t + 300}, {"iat", t - 10}, {"scope", "mcp:tools files:read"}, {"client_id", "claude"}};
    for (const auto& [k, v] : extra) c[k] = v;
    return c;
  }
  static boost::json::object without(boost::json::object c, std::string_view name) {
    c.erase(name);
    return c;
  }
  // The reason, after checking what every refusal must hold: a reason from the documented
  // list and a detail that quotes no part of the token.
  std::string reason_for(const std::string& token) const {
    auto r = verify_jwt(token, keys, rules, now);
    if (r.claims) return "accepted";
    static const std::vector<std::string> reasons{"malformed",     "alg_not_allowed", "unknown_kid",      "bad_signature",
                                                  "expired",       "not_yet_valid",   "issued_in_future", "wrong_issuer",
                                                  "wrong_audience", "too_large",      "missing_claim"};
    EXPECT_NE(std::find(reasons.begin(), reasons.end(), r.refusal.reason), reasons.end()) << r.refusal.reason;
    for (std::size_t at = 0; at < token.size();) {
      const auto end = std::min(token.find('.', at), token.size());
      if (end - at >= 8) {
        EXPECT_EQ(r.refusal.detail.find(token.substr(at, end - at)), std::string::npos) << r.refusal.detail;
      }
      at = end + 1;
    }
    return r.refusal.reason;
  }
  std::optional<token_claims> accepted(const std::string& token) const { return verify_jwt(token, keys, rules, now).claims; }
};

TEST_F(JwtVerifier, EverySupportedAlgorithmVerifies) {
  std::vector<signing_key> signers{ec, ec384, rsa, ps, ed};
  for (const char* alg : {"RS384", "RS512", "PS384", "PS512"}) signers.push_back(rsa_any_alg(rsa, alg));
  for (const auto& key : signers) {
    auto r = verify_jwt(key.sign(claims()), keys, rules, now);
    ASSERT_TRUE(r.claims) << key.alg << ": " << r.refusal.reason << " " << r.refusal.detail;
    EXPECT_EQ(r.claims->subject, "alice");
    EXPECT_EQ(r.claims->issuer, "https://auth.example.com");
    EXPECT_EQ(r.claims->client_id, "claude");
    EXPECT_EQ(r.claims->expires_at, t + 300);
    EXPECT_EQ(r.claims->issued_at, t - 10);
    EXPECT_EQ(r.claims->scopes, (std::vector<std::string>{"mcp:tools", "files:read"}));
  }
  EXPECT_EQ(reason_for(rsa.sign(claims())), "accepted") << "RS256";
  EXPECT_EQ(reason_for(ps.sign(claims())), "accepted") << "PS256";
  EXPECT_EQ(reason_for(ed.sign(claims())), "accepted") << "EdDSA";
}

TEST_F(JwtVerifier, ClaimsAreCheckedOnlyAfterTheSignature) {
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", t - 61}}))), "expired");
  EXPECT_EQ(reason_for(ec.sign(claims({{"nbf", t + 61}}))), "not_yet_valid");
  EXPECT_EQ(reason_for(ec.sign(claims({{"iat", t + 3600}}))), "issued_in_future");
  EXPECT_EQ(reason_for(ec.sign(claims({{"aud", "https://other.example.com/mcp"}}))), "wrong_audience");
  EXPECT_EQ(reason_for(ec.sign(claims({{"aud", "https://mcp.example.com/mcp/"}}))), "wrong_audience")
      << "audiences compare byte for byte";
  EXPECT_EQ(reason_for(ec.sign(without(claims(), "aud"))), "wrong_audience");
  EXPECT_EQ(reason_for(ec.sign(claims({{"iss", "https://evil.example.com"}}))), "wrong_issuer");
  EXPECT_EQ(reason_for(ec.sign(claims({{"iss", "https://auth.example.com/"}}))), "wrong_issuer");
  EXPECT_EQ(reason_for(ec.sign(without(claims(), "iss"))), "wrong_issuer");
  EXPECT_EQ(reason_for(ec.sign(without(claims(), "exp"))), "missing_claim");
  rules.require_exp = false;
  EXPECT_EQ(reason_for(ec.sign(without(claims(), "exp"))), "accepted");
  // An expired token whose signature is bad says "bad_signature": claims of an unverified
  // token are never evaluated, not even to choose the message.
  const auto expired = ec.sign(claims({{"exp", t - 3600}, {"iss", "x"}}));
  EXPECT_EQ(reason_for(expired.substr(0, expired.rfind('.') + 1) + core::base64url_encode(std::string(64, 'x'))),
            "bad_signature");
}

TEST_F(JwtVerifier, LeewayBoundaries) {
  // Leeway 60 s: exp must be after now - 60, nbf and iat at most now + 60.
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", t - 60}}))), "expired");
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", t - 59}}))), "accepted");
  EXPECT_EQ(reason_for(ec.sign(claims({{"nbf", t + 60}}))), "accepted");
  EXPECT_EQ(reason_for(ec.sign(claims({{"nbf", t + 61}}))), "not_yet_valid");
  EXPECT_EQ(reason_for(ec.sign(claims({{"iat", t + 60}}))), "accepted");
  EXPECT_EQ(reason_for(ec.sign(claims({{"iat", t + 61}}))), "issued_in_future");
  rules.leeway = 0s;
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", t}}))), "expired") << "exp is the first instant it is invalid";
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", t + 1}}))), "accepted");
  EXPECT_EQ(reason_for(ec.sign(claims({{"nbf", t}}))), "accepted");
  EXPECT_EQ(reason_for(ec.sign(claims({{"nbf", t + 1}}))), "not_yet_valid");
  EXPECT_EQ(reason_for(ec.sign(claims({{"iat", t + 1}}))), "issued_in_future");
  // NumericDate may have a fraction: it is truncated.
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", static_cast<double>(t) + 0.5}}))), "expired");
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", static_cast<double>(t) + 1.5}}))), "accepted");
}

TEST_F(JwtVerifier, CheckClaimsDetailsSayHowFarOff) {
  token_claims c;
  c.issuer = rules.issuer;
  c.audience = {"a", "https://mcp.example.com/mcp"};
  c.expires_at = t - 100;
  auto refusal = check_claims(c, rules, now);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->reason, "expired");
  EXPECT_EQ(refusal->detail, "exp is 100 s in the past");
  c.expires_at = t + 100;
  EXPECT_FALSE(check_claims(c, rules, now));
  rules.issuer.clear();
  c.issuer.clear();
  ASSERT_TRUE(check_claims(c, rules, now));
  EXPECT_EQ(check_claims(c, rules, now)->reason, "wrong_issuer") << "a missing iss never matches";
}

TEST_F(JwtVerifier, AudienceAndScopes) {
  auto aud = accepted(ec.sign(claims({{"aud", boost::json::array{"x", "https://mcp.example.com/mcp"}}})));
  ASSERT_TRUE(aud);
  EXPECT_EQ(aud->audience, (std::vector<std::string>{"x", "https://mcp.example.com/mcp"}));
  EXPECT_EQ(reason_for(ec.sign(claims({{"aud", boost::json::array{"x", "y"}}}))), "wrong_audience");
  EXPECT_EQ(reason_for(ec.sign(claims({{"aud", boost::json::array{}}}))), "wrong_audience");

  const auto scopes = [&](boost::json::object c) {
    auto r = accepted(ec.sign(c));
    EXPECT_TRUE(r);
    return r ? r->scopes : std::vector<std::string>{"<refused>"};
  };
  using list = std::vector<std::string>;
  EXPECT_EQ(scopes(claims({{"scope", "  a  b "}})), (list{"a", "b"}));
  EXPECT_EQ(scopes(claims({{"scope", ""}})), list{});
  EXPECT_EQ(scopes(without(claims({{"scp", boost::json::array{"a", "b c"}}}), "scope")), (list{"a", "b c"}))
      << "scp array elements are taken whole";
  EXPECT_EQ(scopes(without(claims({{"scp", "a b"}}), "scope")), (list{"a", "b"}));
  EXPECT_EQ(scopes(claims({{"scope", "a"}, {"scp", boost::json::array{"b"}}})), list{"a"}) << "scope wins over scp";
  EXPECT_EQ(scopes(without(claims(), "scope")), list{});
  auto azp = accepted(ec.sign(without(claims({{"azp", "cursor"}}), "client_id")));
  ASSERT_TRUE(azp);
  EXPECT_EQ(azp->client_id, "cursor");
}

TEST_F(JwtVerifier, ClaimsOfTheWrongTypeAreMalformed) {
  for (const auto& bad : std::vector<boost::json::object>{
           {{"exp", "tomorrow"}},
           {{"exp", -1}},
           {{"exp", 1e19}},
           {{"exp", 18446744073709551615ull}},
           {{"exp", true}},
           {{"nbf", nullptr}},
           {{"iat", boost::json::array{1}}},
           {{"aud", 5}},
           {{"aud", boost::json::array{"https://mcp.example.com/mcp", 1}}},
           {{"iss", 1}},
           {{"sub", boost::json::object{}}},
           {{"scope", boost::json::array{"a"}}},
           {{"scp", 1}},
           {{"scp", boost::json::array{"a", nullptr}}},
           {{"client_id", 7}},
       }) {
    auto c = claims(bad);
    if (bad.contains("scp")) c.erase("scope");  // scp is read only in the absence of scope
    EXPECT_EQ(reason_for(ec.sign(c)), "malformed") << boost::json::serialize(bad);
  }
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", 9'000'000'000'000'000'000ll}}))), "accepted") << "within int64";
}

TEST_F(JwtVerifier, ForgeriesAreRefused) {
  const auto good = ec.sign(claims());
  // Payload swapped for one that grants more, signature kept.
  const auto dot1 = good.find('.');
  const auto dot2 = good.rfind('.');
  const auto richer = core::base64url_encode(boost::json::serialize(claims({{"scope", "admin"}})));
  EXPECT_EQ(reason_for(good.substr(0, dot1 + 1) + richer + good.substr(dot2)), "bad_signature");
  // One bit of the signature flipped.
  auto signature = *core::base64url_decode(good.substr(dot2 + 1));
  signature[10] ^= 1;
  EXPECT_EQ(reason_for(good.substr(0, dot2 + 1) + core::base64url_encode(signature)), "bad_signature");
  // alg none, with and without a signature.
  const boost::json::object none{{"alg", "none"}, {"kid", "ec-1"}};
  EXPECT_EQ(reason_for(test::assemble_token(none, claims(), "")), "alg_not_allowed");
  EXPECT_EQ(reason_for(test::assemble_token(none, claims(), "x")), "alg_not_allowed");
  EXPECT_EQ(reason_for(good.substr(0, dot2 + 1)), "malformed") << "no signature at all";
  // HS256 keyed with the RSA public key, PEM or DER (the algorithm-confusion forgery).
  EXPECT_EQ(reason_for(test::hs256_token(claims(), rsa.public_pem(), "rsa-1")), "alg_not_allowed");
  EXPECT_EQ(reason_for(test::hs256_token(claims(), rsa.public_der(), "rsa-1")), "alg_not_allowed");
  for (const char* alg : {"HS256", "HS384", "HS512", "ES512", "RS1", "rs256", "EdDSA ", ""}) {
    EXPECT_EQ(reason_for(test::assemble_token({{"alg", alg}, {"kid", "rsa-1"}}, claims(), "sig")), "alg_not_allowed") << alg;
  }
  // A key of another kid, or another algorithm than the key is for.
  auto other = signing_key::ec_p256("ec-1");  // same kid, other key
  EXPECT_EQ(reason_for(other.sign(claims())), "bad_signature");
  EXPECT_EQ(reason_for(signing_key::ec_p256("ghost").sign(claims())), "unknown_kid");
  auto rs_as_ps = rsa;
  rs_as_ps.alg = "PS256";  // signed PS256 with a key whose JWK says RS256
  EXPECT_EQ(reason_for(rs_as_ps.sign(claims())), "bad_signature");
  auto ec_claiming_rsa = ec;
  ec_claiming_rsa.kid = "rsa-1";
  EXPECT_EQ(reason_for(ec_claiming_rsa.sign(claims())), "bad_signature");
  auto ed_claiming_ec = ed;
  ed_claiming_ec.kid = "ec-1";
  EXPECT_EQ(reason_for(ed_claiming_ec.sign(claims())), "bad_signature");
  // ES256 signed by the right key, but in the DER form OpenSSL produces instead of r || s.
  auto der = ec;
  der.jws_ecdsa_form = false;
  EXPECT_EQ(reason_for(der.sign(claims())), "bad_signature");
  // An ES384 signature (96 bytes) under ES256.
  auto long_sig = ec384.sign(claims());
  EXPECT_EQ(reason_for(good.substr(0, dot2 + 1) + long_sig.substr(long_sig.rfind('.') + 1)), "bad_signature");
}

TEST_F(JwtVerifier, KeysAreChosenByKid) {
  // No kid: every usable key is tried.
  auto anonymous = ed;
  anonymous.kid.clear();
  EXPECT_EQ(reason_for(anonymous.sign(claims())), "accepted");
  EXPECT_EQ(reason_for(signing_key::ed25519("").sign(claims())), "bad_signature");
  EXPECT_EQ(keys.candidates("").size(), keys.keys.size());
  ASSERT_EQ(keys.candidates("ps-1").size(), 1u);
  EXPECT_EQ(keys.candidates("ps-1")[0]->alg, jws_alg::ps256);
  EXPECT_TRUE(keys.candidates("nope").empty());
  // A kid of another type than string is malformed, not "no kid".
  EXPECT_EQ(reason_for(test::assemble_token({{"alg", "ES256"}, {"kid", 1}}, claims(), std::string(64, 'x'))), "malformed");
  // Nothing to verify with at all.
  keys.keys.clear();
  EXPECT_EQ(reason_for(anonymous.sign(claims())), "unknown_kid");
}

TEST_F(JwtVerifier, MalformedTokensSayWhy) {
  const auto good = ec.sign(claims());
  const auto dot1 = good.find('.');
  const auto dot2 = good.rfind('.');
  EXPECT_EQ(reason_for("a.b"), "malformed");
  EXPECT_EQ(reason_for(good.substr(0, dot2)), "malformed") << "2 parts";
  EXPECT_EQ(reason_for(good + ".x"), "malformed") << "4 parts";
  EXPECT_EQ(reason_for(good + "."), "malformed") << "4 parts, the last empty";
  EXPECT_EQ(reason_for(""), "malformed");
  EXPECT_EQ(reason_for(".."), "malformed");
  // '=' padding, in any part (each part below is padded correctly for base64).
  const auto pad = [](std::string_view part) {
    std::string p(part);
    while (p.size() % 4 != 0) p += '=';
    return p;
  };
  const auto header = good.substr(0, dot1);
  const auto payload = good.substr(dot1 + 1, dot2 - dot1 - 1);
  const auto sig = good.substr(dot2 + 1);
  ASSERT_NE(sig.size() % 4, 0u) << "64 bytes need padding in base64";
  EXPECT_EQ(reason_for(header + "." + payload + "." + pad(sig)), "malformed");
  if (header.size() % 4 != 0) {
    EXPECT_EQ(reason_for(pad(header) + "." + payload + "." + sig), "malformed");
  }
  if (payload.size() % 4 != 0) {
    EXPECT_EQ(reason_for(header + "." + pad(payload) + "." + sig), "malformed");
  }
  // Characters outside base64url: standard base64's '+' and '/', whitespace.
  EXPECT_EQ(reason_for(header + "." + payload + ".+/" + sig.substr(2)), "malformed");
  EXPECT_EQ(reason_for(header + " ." + payload + "." + sig), "malformed");
  EXPECT_EQ(reason_for("Bearer " + good), "malformed");
  // Header and payload must be JSON objects.
  for (const char* not_object : {"[1]", "\"ES256\"", "1", "null", "{", "{\"alg\":\"ES256\"} x", ""}) {
    EXPECT_EQ(reason_for(core::base64url_encode(not_object) + "." + payload + "." + sig), "malformed") << not_object;
    EXPECT_EQ(reason_for(header + "." + core::base64url_encode(not_object) + "." + sig), "malformed") << not_object;
  }
  EXPECT_EQ(reason_for(test::assemble_token({{"kid", "ec-1"}}, claims(), "sig")), "malformed") << "no alg";
  EXPECT_EQ(reason_for(test::assemble_token({{"alg", 256}}, claims(), "sig")), "malformed");
  EXPECT_EQ(reason_for(test::assemble_token({{"alg", "ES256"}, {"crit", boost::json::array{"exp"}}}, claims(), "sig")),
            "malformed");
  EXPECT_EQ(reason_for(test::assemble_token({{"alg", "ES256"}, {"crit", boost::json::array{}}}, claims(), "sig")),
            "malformed");
  // Sizes: the bound is on the whole token, checked before anything else.
  EXPECT_EQ(reason_for(std::string(max_token_bytes + 1, 'a')), "too_large");
  EXPECT_EQ(reason_for(std::string(max_token_bytes, 'a')), "malformed");
  auto big = claims({{"pad", std::string(max_token_bytes, 'p')}});
  EXPECT_EQ(reason_for(ec.sign(big)), "too_large");
  auto r = verify_jwt(std::string(max_token_bytes + 1, 'a'), keys, rules, now);
  EXPECT_EQ(r.refusal.detail.find("aaaa"), std::string::npos) << "a refusal never quotes the token";
  // An alg that is refused is quoted in the detail, but short and printable.
  auto odd = decode_jwt(test::assemble_token({{"alg", "HS256\n" + std::string(100, 'z')}}, claims(), "sig"));
  ASSERT_FALSE(odd.token);
  EXPECT_EQ(odd.refusal.detail.find('\n'), std::string::npos) << odd.refusal.detail;
  EXPECT_LT(odd.refusal.detail.size(), 60u) << odd.refusal.detail;
}

TEST_F(JwtVerifier, DuplicateMembersKeepTheLastAsRfc7515Allows) {
  // Documented in jwt.hpp: not refused, the lexically last member wins (before and after
  // the signature check alike, so the signed bytes mean one thing).
  const std::string header = R"({"alg":"none","alg":"ES256","kid":"ec-1"})";
  const std::string payload = R"({"sub":"alice","sub":"mallory","exp":1})";
  auto d = decode_jwt(core::base64url_encode(header) + "." + core::base64url_encode(payload) + ".c2ln");
  ASSERT_TRUE(d.token) << d.refusal.reason;
  EXPECT_EQ(d.token->alg, jws_alg::es256);
  EXPECT_EQ(d.token->kid, "ec-1");
  EXPECT_EQ(d.token->claims.subject, "mallory");
}

TEST_F(JwtVerifier, DecodeKeepsWhatTheVerifierNeeds) {
  const auto token = ec.sign(claims(), {{"typ", "at+jwt"}});
  auto d = decode_jwt(token);
  ASSERT_TRUE(d.token) << d.refusal.reason;
  EXPECT_EQ(d.token->alg, jws_alg::es256);
  EXPECT_EQ(d.token->kid, "ec-1");
  EXPECT_EQ(d.token->typ, "at+jwt");
  EXPECT_EQ(d.token->signing_input, token.substr(0, token.rfind('.')));
  EXPECT_EQ(d.token->signature.size(), 64u);
  EXPECT_TRUE(verify_signature(*d.token, keys.keys[0]));
  EXPECT_FALSE(verify_signature(*d.token, keys.keys[1])) << "a P-384 key for an ES256 token";
  EXPECT_FALSE(verify_signature(*d.token, jwk{})) << "no key at all";
}

TEST(JwtAlg, NamesRoundTrip) {
  for (auto alg : {jws_alg::rs256, jws_alg::rs384, jws_alg::rs512, jws_alg::ps256, jws_alg::ps384, jws_alg::ps512,
                   jws_alg::es256, jws_alg::es384, jws_alg::eddsa}) {
    EXPECT_EQ(parse_alg(to_string(alg)), alg) << to_string(alg);
  }
  for (const char* refused : {"none", "None", "HS256", "HS384", "HS512", "ES512", "ES256K", "Ed25519", "RSA-OAEP", ""}) {
    EXPECT_FALSE(parse_alg(refused)) << refused;
  }
}

jwk key_of(std::string kty, std::string crv = {}) {
  jwk k;
  k.kty = std::move(kty);
  k.crv = std::move(crv);
  return k;
}

TEST(JwtKeyUse, KeyTypeAndAlgMustFitTheTokensAlg) {
  auto rsa = key_of("RSA");
  EXPECT_TRUE(rsa.usable_for(jws_alg::rs256));
  EXPECT_TRUE(rsa.usable_for(jws_alg::ps512));
  EXPECT_FALSE(rsa.usable_for(jws_alg::es256));
  EXPECT_FALSE(rsa.usable_for(jws_alg::eddsa));
  rsa.alg = jws_alg::rs256;
  EXPECT_TRUE(rsa.usable_for(jws_alg::rs256));
  EXPECT_FALSE(rsa.usable_for(jws_alg::ps256));
  EXPECT_FALSE(rsa.usable_for(jws_alg::rs512));
  const auto p256 = key_of("EC", "P-256");
  EXPECT_TRUE(p256.usable_for(jws_alg::es256));
  EXPECT_FALSE(p256.usable_for(jws_alg::es384));
  EXPECT_FALSE(p256.usable_for(jws_alg::rs256));
  const auto p384 = key_of("EC", "P-384");
  EXPECT_TRUE(p384.usable_for(jws_alg::es384));
  EXPECT_FALSE(p384.usable_for(jws_alg::es256));
  auto ed = key_of("OKP", "Ed25519");
  EXPECT_TRUE(ed.usable_for(jws_alg::eddsa));
  EXPECT_FALSE(ed.usable_for(jws_alg::es256));
  ed.alg = jws_alg::es256;  // a JWK whose alg contradicts its type fits nothing
  EXPECT_FALSE(ed.usable_for(jws_alg::eddsa));
  EXPECT_FALSE(ed.usable_for(jws_alg::es256));
}

TEST(JwtKeySet, UnusableKeysAreSkippedWithAReason) {
  auto ec = signing_key::ec_p256("ok");
  auto weak = signing_key::rsa("weak", 1024);
  auto enc = ec.jwk();
  enc["kid"] = "enc";
  enc["use"] = "enc";
  boost::json::array list{ec.jwk(), weak.jwk(), enc, boost::json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}},
                          boost::json::object{{"kty", "EC"}, {"crv", "P-256"}, {"x", "AA"}, {"y", "AA"}, {"kid", "short"}},
                          "not an object"};
  auto r = parse_jwk_set(jwks_of(list));
  ASSERT_TRUE(r.set) << r.error;
  ASSERT_EQ(r.set->keys.size(), 1u);
  EXPECT_EQ(r.set->keys[0].kid, "ok");
  ASSERT_EQ(r.skipped.size(), 5u);
  EXPECT_NE(r.skipped[0].find("1024 bits"), std::string::npos) << r.skipped[0];
  EXPECT_NE(r.skipped[1].find("use is enc"), std::string::npos);
  EXPECT_NE(r.skipped[2].find("kty oct"), std::string::npos);
  EXPECT_NE(r.skipped[3].find("not 32 bytes"), std::string::npos);
  EXPECT_NE(r.skipped[4].find("not an object"), std::string::npos);
}

TEST(JwtKeySet, KeysThatWouldVerifyWronglyAreSkipped) {
  auto ec = signing_key::ec_p256("ec");
  boost::json::array list;
  auto off_curve = ec.jwk();
  off_curve["kid"] = "off-curve";
  auto y = *core::base64url_decode(std::string_view(off_curve["y"].as_string()));
  y[31] ^= 1;
  off_curve["y"] = core::base64url_encode(y);
  list.push_back(off_curve);
  auto long_x = ec.jwk();
  long_x["kid"] = "long-x";
  long_x["x"] = core::base64url_encode(std::string(1, '\0') + *core::base64url_decode(std::string_view(long_x["x"].as_string())));
  list.push_back(long_x);
  auto p521 = ec.jwk();
  p521["kid"] = "p521";
  p521["crv"] = "P-521";
  list.push_back(p521);
  auto hs = ec.jwk();
  hs["kid"] = "hs";
  hs["alg"] = "HS256";
  list.push_back(hs);
  auto padded_b64 = ec.jwk();
  padded_b64["kid"] = "padded";
  padded_b64["x"] = std::string(padded_b64["x"].as_string()) + "=";
  list.push_back(padded_b64);
  // A 2040-bit modulus written with a leading zero byte: 256 bytes, but not 2048 bits.
  auto short_rsa = signing_key::rsa("short-rsa", 2040);
  auto zero_led = short_rsa.jwk();
  zero_led["n"] = core::base64url_encode(std::string(1, '\0') + *core::base64url_decode(std::string_view(zero_led["n"].as_string())));
  list.push_back(zero_led);
  auto ps_on_ec = ec.jwk();  // found by fuzz_jwt: kept, yet usable for nothing
  ps_on_ec["alg"] = "PS384";
  list.push_back(ps_on_ec);
  list.push_back(boost::json::object{{"kty", "OKP"}, {"crv", "X25519"}, {"x", core::base64url_encode(std::string(32, 'x'))}});
  list.push_back(boost::json::object{{"kty", "RSA"}, {"n", "AQAB"}});
  list.push_back(boost::json::object{{"kid", "no-kty"}});
  list.push_back(boost::json::object{{"kty", "EC"}, {"crv", "P-256"}, {"alg", 1}});
  auto r = parse_jwk_set(jwks_of(list));
  ASSERT_TRUE(r.set) << r.error;
  EXPECT_TRUE(r.set->keys.empty());
  ASSERT_EQ(r.skipped.size(), list.size());
  EXPECT_NE(r.skipped[0].find("not on P-256"), std::string::npos) << r.skipped[0];
  EXPECT_NE(r.skipped[1].find("not 32 bytes"), std::string::npos) << r.skipped[1];
  EXPECT_NE(r.skipped[2].find("unsupported curve"), std::string::npos) << r.skipped[2];
  EXPECT_NE(r.skipped[3].find("HS256 is not accepted"), std::string::npos) << r.skipped[3];
  EXPECT_NE(r.skipped[4].find("not 32 bytes"), std::string::npos) << r.skipped[4];
  EXPECT_NE(r.skipped[5].find("2040 bits"), std::string::npos) << r.skipped[5];
  EXPECT_NE(r.skipped[6].find("alg PS384 does not fit an EC P-256 key"), std::string::npos) << r.skipped[6];
  EXPECT_NE(r.skipped[7].find("unsupported curve"), std::string::npos) << r.skipped[7];
  EXPECT_NE(r.skipped[8].find("n or e"), std::string::npos) << r.skipped[8];
  EXPECT_NE(r.skipped[9].find("no kty"), std::string::npos) << r.skipped[9];
  EXPECT_NE(r.skipped[10].find("alg is not a string"), std::string::npos) << r.skipped[10];
}

TEST(JwtKeySet, WhatAJwksMayCarryBesidesTheKey) {
  auto ec = signing_key::ec_p256("ec");
  auto with_private = ec.jwk();
  with_private["d"] = core::base64url_encode(std::string(32, 'd'));  // ignored, the public part is used
  with_private["x5c"] = boost::json::array{"MIIB"};
  with_private["key_ops"] = boost::json::array{"verify"};
  auto no_use = ec.jwk();
  no_use.erase("use");
  no_use.erase("alg");
  no_use["kid"] = "";
  auto r = parse_jwk_set(boost::json::serialize(boost::json::object{{"keys", boost::json::array{with_private, no_use}}, {"extra", 1}}));
  ASSERT_TRUE(r.set) << r.error;
  ASSERT_EQ(r.set->keys.size(), 2u);
  EXPECT_EQ(r.set->keys[0].alg, jws_alg::es256);
  EXPECT_EQ(r.set->keys[0].crv, "P-256");
  EXPECT_EQ(r.set->keys[1].alg, std::nullopt);
  EXPECT_EQ(r.set->keys[1].kid, "");
  EXPECT_TRUE(r.set->keys[1].usable_for(jws_alg::es256));
  // The key's control characters do not reach the log as such.
  auto odd = ec.jwk();
  odd["kid"] = "a\nb";
  odd["use"] = "enc";
  auto skipped = parse_jwk_set(jwks_of({odd}));
  ASSERT_EQ(skipped.skipped.size(), 1u);
  EXPECT_EQ(skipped.skipped[0].find('\n'), std::string::npos) << skipped.skipped[0];
}

TEST(JwtKeySet, MalformedDocumentsAreErrors) {
  for (const char* doc : {"{}", "not json", "[]", "{\"keys\": {}}", "{\"keys\": \"a\"}", "{\"keys\": [] } x", ""}) {
    auto r = parse_jwk_set(doc);
    EXPECT_FALSE(r.set) << doc;
    EXPECT_FALSE(r.error.empty()) << doc;
  }
  EXPECT_FALSE(parse_jwk_set(std::string(max_jwks_bytes + 1, ' ')).set);
  auto empty = parse_jwk_set("{\"keys\": []}");
  ASSERT_TRUE(empty.set);
  EXPECT_TRUE(empty.set->keys.empty());
  const auto deep = std::string(100, '[') + std::string(100, ']');
  EXPECT_FALSE(parse_jwk_set("{\"keys\": " + deep + "}").set) << "nested deeper than the parser allows";
}

}  // namespace
}  // namespace mcpgate::auth
