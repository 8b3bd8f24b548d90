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

struct JwtVerifier : ::testing::Test {
  signing_key ec = signing_key::ec_p256("ec-1");
  signing_key rsa = signing_key::rsa("rsa-1");
  signing_key ps = signing_key::rsa("ps-1", 2048, "PS256");
  signing_key ed = signing_key::ed25519("ed-1");
  jwk_set keys;
  claim_rules rules;

  void SetUp() override {
    auto parsed = parse_jwk_set(test::jwks_json({&ec, &rsa, &ps, &ed}));
    ASSERT_TRUE(parsed.set) << parsed.error;
    ASSERT_EQ(parsed.set->keys.size(), 4u);
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
  std::string reason_for(const std::string& token) const {
    auto r = verify_jwt(token, keys, rules, now);
    return r.claims ? "accepted" : r.refusal.reason;
  }
};

TEST_F(JwtVerifier, EverySupportedAlgorithmVerifies) {
  for (const auto* key : {&ec, &rsa, &ps, &ed}) {
    auto r = verify_jwt(key->sign(claims()), keys, rules, now);
    ASSERT_TRUE(r.claims) << key->alg << ": " << r.refusal.reason << " " << r.refusal.detail;
    EXPECT_EQ(r.claims->subject, "alice");
    EXPECT_EQ(r.claims->client_id, "claude");
    EXPECT_EQ(r.claims->scopes, (std::vector<std::string>{"mcp:tools", "files:read"}));
  }
}

TEST_F(JwtVerifier, ClaimsAreCheckedOnlyAfterTheSignature) {
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", t - 61}}))), "expired");
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", t - 59}}))), "accepted") << "within the leeway";
  EXPECT_EQ(reason_for(ec.sign(claims({{"nbf", t + 61}}))), "not_yet_valid");
  EXPECT_EQ(reason_for(ec.sign(claims({{"nbf", t + 59}}))), "accepted");
  EXPECT_EQ(reason_for(ec.sign(claims({{"iat", t + 3600}}))), "issued_in_future");
  EXPECT_EQ(reason_for(ec.sign(claims({{"aud", "https://other.example.com/mcp"}}))), "wrong_audience");
  EXPECT_EQ(reason_for(ec.sign(claims({{"aud", boost::json::array{"x", "https://mcp.example.com/mcp"}}}))), "accepted");
  EXPECT_EQ(reason_for(ec.sign(claims({{"iss", "https://evil.example.com"}}))), "wrong_issuer");
  auto no_exp = claims();
  no_exp.erase("exp");
  EXPECT_EQ(reason_for(ec.sign(no_exp)), "missing_claim");
  EXPECT_EQ(reason_for(ec.sign(claims({{"exp", "tomorrow"}}))), "malformed");
  EXPECT_EQ(reason_for(ec.sign(claims({{"scp", boost::json::array{"a", "b"}}}))), "accepted");
  // An expired token whose signature is bad says "bad_signature": claims of an unverified
  // token are never evaluated, not even to choose the message.
  const auto expired = ec.sign(claims({{"exp", t - 3600}}));
  EXPECT_EQ(reason_for(expired.substr(0, expired.rfind('.') + 1) + core::base64url_encode(std::string(64, 'x'))),
            "bad_signature");
}

TEST_F(JwtVerifier, ForgeriesAreRefused) {
  const auto good = ec.sign(claims());
  // Payload swapped for one that grants more, signature kept.
  const auto dot1 = good.find('.');
  const auto dot2 = good.rfind('.');
  const auto richer = core::base64url_encode(boost::json::serialize(claims({{"scope", "admin"}})));
  EXPECT_EQ(reason_for(good.substr(0, dot1 + 1) + richer + good.substr(dot2)), "bad_signature");
  // alg none, with and without a signature.
  const boost::json::object none{{"alg", "none"}, {"kid", "ec-1"}};
  EXPECT_EQ(reason_for(test::assemble_token(none, claims(), "")), "alg_not_allowed");
  EXPECT_EQ(reason_for(test::assemble_token(none, claims(), "x")), "alg_not_allowed");
  // HS256 keyed with the RSA public key (the algorithm-confusion forgery).
  EXPECT_EQ(reason_for(test::hs256_token(claims(), rsa.public_pem(), "rsa-1")), "alg_not_allowed");
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
  // ES256 with the DER form OpenSSL produces instead of r || s.
  const boost::json::object es{{"alg", "ES256"}, {"kid", "ec-1"}};
  EXPECT_EQ(reason_for(test::assemble_token(es, claims(), std::string(70, '\x30'))), "bad_signature");
}

TEST_F(JwtVerifier, MalformedTokensSayWhy) {
  const auto good = ec.sign(claims());
  EXPECT_EQ(reason_for("a.b"), "malformed");
  EXPECT_EQ(reason_for(good + ".x"), "malformed");
  EXPECT_EQ(reason_for(good + "="), "malformed") << "padding is not base64url";
  EXPECT_EQ(reason_for(""), "malformed");
  EXPECT_EQ(reason_for(".."), "malformed");
  EXPECT_EQ(reason_for(test::assemble_token({{"alg", "ES256"}, {"crit", boost::json::array{"exp"}}}, claims(), "sig")),
            "malformed");
  EXPECT_EQ(reason_for(core::base64url_encode("[1]") + "." + core::base64url_encode("{}") + ".c2ln"), "malformed");
  EXPECT_EQ(reason_for(std::string(max_token_bytes + 1, 'a')), "too_large");
  auto r = verify_jwt(std::string(max_token_bytes + 1, 'a'), keys, rules, now);
  EXPECT_EQ(r.refusal.detail.find("aaaa"), std::string::npos) << "a refusal never quotes the token";
}

TEST(Jwks, UnusableKeysAreSkippedWithAReason) {
  auto ec = signing_key::ec_p256("ok");
  auto weak = signing_key::rsa("weak", 1024);
  auto enc = ec.jwk();
  enc["kid"] = "enc";
  enc["use"] = "enc";
  boost::json::array list{ec.jwk(), weak.jwk(), enc, boost::json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}},
                          boost::json::object{{"kty", "EC"}, {"crv", "P-256"}, {"x", "AA"}, {"y", "AA"}, {"kid", "short"}},
                          "not an object"};
  auto r = parse_jwk_set(boost::json::serialize(boost::json::object{{"keys", list}}));
  ASSERT_TRUE(r.set) << r.error;
  ASSERT_EQ(r.set->keys.size(), 1u);
  EXPECT_EQ(r.set->keys[0].kid, "ok");
  ASSERT_EQ(r.skipped.size(), 5u);
  EXPECT_NE(r.skipped[0].find("1024 bits"), std::string::npos) << r.skipped[0];
  EXPECT_NE(r.skipped[1].find("use is enc"), std::string::npos);
  EXPECT_NE(r.skipped[2].find("kty oct"), std::string::npos);
  EXPECT_NE(r.skipped[3].find("not 32 bytes"), std::string::npos);
  EXPECT_FALSE(parse_jwk_set("{}").set);
  EXPECT_FALSE(parse_jwk_set("not json").set);
  EXPECT_FALSE(parse_jwk_set(std::string(max_jwks_bytes + 1, ' ')).set);
}

}  // namespace
}  // namespace mcpgate::auth
