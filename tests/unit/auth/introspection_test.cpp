// RFC 7662 introspection without I/O: reading the endpoint's answers, judging them for a
// route, the per-worker cache and the client authentication. (Against a live endpoint
// through the gateway: integration introspection_test.cpp.)
#include <gtest/gtest.h>

#include "auth/authenticate.hpp"
#include "auth/introspection.hpp"

namespace mcpgate::auth {
namespace {

using kind = decision::kind;
using namespace std::chrono_literals;

const auto now = std::chrono::system_clock::now();
const std::int64_t t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();

config::oauth_settings introspecting() {
  config::oauth_settings o;
  o.issuer = "https://auth.example.com";
  o.audience = "https://files.example.com";
  o.scopes = {"mcp:tools"};
  o.leeway = 30s;
  config::introspection_settings i;
  i.endpoint = "https://auth.example.com/introspect";
  i.client_id = "gateway";
  i.client_secret = "secret";
  o.introspection = i;
  return o;
}

introspection_response parsed(const std::string& json) {
  auto r = parse_introspection_response(json);
  EXPECT_TRUE(r.response) << r.error << " for " << json;
  return r.response.value_or(introspection_response{});
}

std::string parse_error(const std::string& json) {
  auto r = parse_introspection_response(json);
  EXPECT_FALSE(r.response) << json;
  return r.error;
}

introspection_outcome answered(const std::string& json) {
  introspection_outcome o;
  o.response = parsed(json);
  return o;
}

TEST(IntrospectionResponse, AnActiveTokenCarriesItsClaims) {
  const auto r = parsed(R"({"active":true,"sub":"alice","client_id":"claude","scope":"mcp:tools files:read",)"
                        R"("aud":["https://files.example.com/"],"iss":"https://auth.example.com","exp":1900000000,)"
                        R"("token_type":"Bearer","username":"alice@example.com"})");
  EXPECT_TRUE(r.active);
  EXPECT_EQ(r.claims.subject, "alice");
  EXPECT_EQ(r.claims.client_id, "claude");
  EXPECT_EQ(r.claims.scopes, (std::vector<std::string>{"mcp:tools", "files:read"}));
  EXPECT_EQ(r.claims.audience, std::vector<std::string>{"https://files.example.com/"});
  EXPECT_EQ(r.claims.expires_at, 1900000000);
  EXPECT_EQ(r.token_type, "Bearer");
}

TEST(IntrospectionResponse, InactiveIsAllItSays) {
  const auto r = parsed(R"({"active":false,"sub":42,"scope":["not","read"]})");
  EXPECT_FALSE(r.active);
  EXPECT_TRUE(r.claims.subject.empty());
  EXPECT_TRUE(r.claims.scopes.empty());
}

TEST(IntrospectionResponse, AnythingButAnRfc7662AnswerIsAnError) {
  EXPECT_EQ(parse_error("<html>"), "not a JSON object");
  EXPECT_EQ(parse_error("[true]"), "not a JSON object");
  EXPECT_EQ(parse_error("{}"), "no active member");
  EXPECT_EQ(parse_error(R"({"active":"true"})"), "active is not a boolean");
  EXPECT_EQ(parse_error(R"({"active":1})"), "active is not a boolean");
  EXPECT_EQ(parse_error(R"({"active":true,"token_type":7})"), "token_type is not a string");
  EXPECT_EQ(parse_error(R"({"active":true,"scope":["a"]})"), "scope is not a string");
  EXPECT_EQ(parse_error(R"({"active":true,"exp":"soon"})"), "exp, nbf or iat is not a non-negative number");
  EXPECT_EQ(parse_error(R"({"active":true,"aud":[1]})"), "aud holds a non-string");
  std::string deep(40, '[');
  deep.append(40, ']');
  EXPECT_EQ(parse_error(R"({"active":true,"x":)" + deep + "}"), "not a JSON object") << "nesting is bounded";
  std::string big = R"({"active":true,"pad":")";
  big.append(max_introspection_response_bytes, 'x');
  big.append("\"}");
  EXPECT_NE(parse_error(big).find("over"), std::string::npos);
}

TEST(IntrospectionDecision, AnActiveTokenForThisRouteIsAdmittedWithItsIdentity) {
  const auto oauth = introspecting();
  auto d = decide_introspected(oauth, answered(R"({"active":true,"sub":"alice","client_id":"claude",)"
                                               R"("scope":"mcp:tools","exp":)" + std::to_string(t + 60) + "}"),
                               now);
  ASSERT_EQ(d.verdict, kind::allowed) << d.detail;
  EXPECT_EQ(d.who.how, identity::method::oauth);
  EXPECT_EQ(d.who.label(), "oauth:alice");
  EXPECT_EQ(d.who.client_id, "claude");
  EXPECT_EQ(d.who.scopes, std::vector<std::string>{"mcp:tools"});
  // iss, aud and token_type present and right; the audience with the slash clients add.
  d = decide_introspected(oauth, answered(R"({"active":true,"sub":"bob","scope":"mcp:tools","iss":"https://auth.example.com",)"
                                          R"("aud":"https://files.example.com/","token_type":"bearer"})"),
                          now);
  EXPECT_EQ(d.verdict, kind::allowed) << d.detail;
}

TEST(IntrospectionDecision, EveryMismatchIsRefused) {
  const auto oauth = introspecting();
  struct refusal {
    std::string answer;
    kind verdict;
    std::string detail_start;
  };
  const std::array<refusal, 8> cases{{
      {R"({"active":false})", kind::invalid, "inactive"},
      {R"({"active":true,"scope":"mcp:tools","iss":"https://evil.example.com"})", kind::invalid, "wrong_issuer"},
      {R"({"active":true,"scope":"mcp:tools","aud":["https://other.example.com"]})", kind::invalid, "wrong_audience"},
      {R"({"active":true,"scope":"mcp:tools","token_type":"refresh_token"})", kind::invalid, "wrong_token_type"},
      {R"({"active":true,"scope":"mcp:tools","exp":)" + std::to_string(t - 31) + "}", kind::invalid, "expired"},
      {R"({"active":true,"scope":"mcp:tools","nbf":)" + std::to_string(t + 31) + "}", kind::invalid, "not_yet_valid"},
      {R"({"active":true,"scope":"files:read"})", kind::forbidden, "missing scope mcp:tools"},
      {R"({"active":true})", kind::forbidden, "missing scope mcp:tools"},
  }};
  for (const auto& c : cases) {
    const auto d = decide_introspected(oauth, answered(c.answer), now);
    EXPECT_EQ(d.verdict, c.verdict) << c.answer;
    EXPECT_EQ(d.detail.substr(0, c.detail_start.size()), c.detail_start) << c.answer << ": " << d.detail;
  }
  // Expired, but within the leeway.
  EXPECT_EQ(decide_introspected(oauth, answered(R"({"active":true,"scope":"mcp:tools","exp":)" + std::to_string(t - 29) + "}"), now)
                .verdict,
            kind::allowed);
  introspection_outcome down;
  down.error = "introspection: timed out";
  const auto d = decide_introspected(oauth, down, now);
  EXPECT_EQ(d.verdict, kind::introspection_unavailable);
  EXPECT_EQ(d.reason, "auth_introspection_unavailable");
  EXPECT_EQ(d.status(), 503u);
}

TEST(IntrospectionDecision, OpaqueTokensAreIntrospectedJwtsVerifiedLocallyWhenKeysAreConfigured) {
  config::route route;
  route.name = "files";
  route.auth.oauth = introspecting();
  const presented opaque{.authorization = "Bearer 2YotnFZFEjr1zCsicMWpAA", .authorization_fields = 1};
  const presented jwt{.authorization = "Bearer eyJh.eyJz.c2ln", .authorization_fields = 1};
  // No jwks_uri: every token is introspected, none fetches keys.
  auto d = decide(route, opaque, {}, nullptr, now);
  EXPECT_EQ(d.introspect, "2YotnFZFEjr1zCsicMWpAA");
  EXPECT_EQ(d.status(), 503u) << "a caller that does not introspect admits no one";
  EXPECT_EQ(decide(route, jwt, {}, nullptr, now).introspect, "eyJh.eyJz.c2ln");
  // With jwks_uri: JWTs are verified here (no keys yet: 503, fetch them), others introspected.
  route.auth.oauth->jwks_uri = "https://auth.example.com/jwks";
  EXPECT_EQ(decide(route, opaque, {}, nullptr, now).introspect, "2YotnFZFEjr1zCsicMWpAA");
  d = decide(route, jwt, {}, nullptr, now);
  EXPECT_TRUE(d.introspect.empty());
  EXPECT_EQ(d.verdict, kind::keys_unavailable);
  for (const auto* odd : {"Bearer a.b", "Bearer a.b.c.d.e", "Bearer a+b.c.d", "Bearer a.b/c.d", "Bearer a.b.c="}) {
    EXPECT_FALSE(decide(route, {.authorization = odd, .authorization_fields = 1}, {}, nullptr, now).introspect.empty())
        << odd;
  }
  const std::string huge = "Bearer " + std::string(max_token_bytes + 1, 'a');
  d = decide(route, {.authorization = huge, .authorization_fields = 1}, {}, nullptr, now);
  EXPECT_TRUE(d.introspect.empty()) << "never sent to the endpoint";
  EXPECT_EQ(d.verdict, kind::invalid);
  EXPECT_EQ(d.detail.substr(0, 9), "too_large");
  // Without introspection an opaque token is not a JWT, whatever the keys.
  route.auth.oauth->introspection.reset();
  d = decide(route, opaque, {}, nullptr, now);
  EXPECT_EQ(d.verdict, kind::invalid);
  EXPECT_EQ(d.detail, "malformed: not a JWT");
}

TEST(IntrospectionCache, ALifetimeIsTheCacheSettingCutAtTheTokensExp) {
  introspection_response active;
  active.active = true;
  EXPECT_EQ(cache_lifetime(active, 60s, now), 60s) << "no exp: the setting";
  active.claims.expires_at = t + 20;
  EXPECT_EQ(cache_lifetime(active, 60s, now), 20s);
  active.claims.expires_at = t + 600;
  EXPECT_EQ(cache_lifetime(active, 60s, now), 60s) << "never longer than the setting";
  active.claims.expires_at = t - 5;
  EXPECT_EQ(cache_lifetime(active, 60s, now), 0s);
  EXPECT_EQ(cache_lifetime(active, 0s, now), 0s) << "cache: 0 is off";
  introspection_response inactive;
  inactive.claims.expires_at = t + 5;  // ignored: the answer itself is what is kept
  EXPECT_EQ(cache_lifetime(inactive, 60s, now), 60s);
}

TEST(IntrospectionCache, AnswersExpireAndTheCacheStaysBounded) {
  introspection_cache cache(4);
  introspection_response yes;
  yes.active = true;
  yes.claims.subject = "alice";
  cache.store("a", yes, 10s, now);
  cache.store("b", introspection_response{}, 10s, now);
  cache.store("zero", yes, 0s, now);
  ASSERT_NE(cache.find("a", now + 9s), nullptr);
  EXPECT_EQ(cache.find("a", now + 9s)->claims.subject, "alice");
  ASSERT_NE(cache.find("b", now), nullptr);
  EXPECT_FALSE(cache.find("b", now)->active);
  EXPECT_EQ(cache.find("zero", now), nullptr);
  EXPECT_EQ(cache.find("a", now + 10s), nullptr) << "expired";
  EXPECT_EQ(cache.size(), 1u) << "an expired answer found is dropped";

  cache.store("c", yes, 1s, now);
  cache.store("d", yes, 10s, now);
  cache.store("e", yes, 10s, now);
  EXPECT_EQ(cache.size(), 4u);
  // Full: the expired answer (c) makes room first.
  cache.store("f", yes, 10s, now + 2s);
  EXPECT_EQ(cache.size(), 4u);
  EXPECT_EQ(cache.find("c", now), nullptr);
  // Full of live answers: it starts over rather than grow.
  cache.store("g", yes, 10s, now + 2s);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_NE(cache.find("g", now + 2s), nullptr);
}

TEST(IntrospectionClient, CredentialsAreFormEncodedBeforeBasic) {
  EXPECT_EQ(form_urlencode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(form_urlencode("a b+c/d=e:f%\xff"), "a+b%2Bc%2Fd%3De%3Af%25%FF");
  // RFC 6749 2.3.1's example.
  EXPECT_EQ(basic_credentials("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw"), "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3");
  // A colon in the id would otherwise split the pair in the wrong place.
  EXPECT_EQ(basic_credentials("a:b", "c d"), "Basic YSUzQWI6Yytk");
}

}  // namespace
}  // namespace mcpgate::auth
