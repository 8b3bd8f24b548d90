// Route auth decisions without I/O: API keys, client certificates, the challenges and the
// protected resource metadata. (JWT verification itself: jwt_test.cpp; through the
// gateway with a real issuer: integration auth_test.cpp.)
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "auth/api_key.hpp"
#include "auth/authenticate.hpp"
#include "auth/jwt.hpp"
#include "mcp/policy.hpp"
#include "support/jwt_signer.hpp"

namespace mcpgate::auth {
namespace {

using kind = decision::kind;
const auto now = std::chrono::system_clock::now();

config::route oauth_route() {
  config::route r;
  r.name = "files";
  config::oauth_settings o;
  o.issuer = "https://auth.example.com";
  o.audience = "https://files.example.com/mcp";
  o.scopes = {"mcp:tools"};
  r.auth.oauth = o;
  return r;
}

struct keyed {
  std::string key = make_api_key();
  std::vector<config::api_key> keys;
  config::route route;
  keyed() {
    config::api_key k;
    k.name = "ci-bot";
    k.sha256 = sha256_of(key);
    k.routes = {"files"};
    keys.push_back(k);
    config::api_key other;
    other.name = "other";
    other.sha256 = sha256_of(make_api_key());
    keys.push_back(other);
    route.name = "files";
    route.auth.api_keys = true;
  }
};

TEST(ApiKey, KeysAreRandomPrefixedAndFoundByHashOnly) {
  const auto a = make_api_key();
  const auto b = make_api_key();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.substr(0, 4), "mgk_");
  EXPECT_EQ(a.size(), 4u + 43u);
  EXPECT_EQ(to_hex(sha256_of("test")), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  keyed k;
  EXPECT_EQ(find_api_key(k.keys, k.key), &k.keys[0]);
  EXPECT_EQ(find_api_key(k.keys, k.key + "x"), nullptr);
  EXPECT_EQ(find_api_key(k.keys, ""), nullptr);
  EXPECT_TRUE(valid_api_key_name("ci-bot.2@prod"));
  EXPECT_FALSE(valid_api_key_name("has space"));
  EXPECT_FALSE(valid_api_key_name(""));
}

TEST(Authenticate, ApiKeysOnTheirRoutesOnly) {
  keyed k;
  const std::string header = "Bearer " + k.key;
  auto d = decide(k.route, {.authorization = header, .authorization_fields = 1, .target = "/mcp"}, k.keys, nullptr, now);
  ASSERT_EQ(d.verdict, kind::allowed) << d.reason;
  EXPECT_EQ(d.who.label(), "key:ci-bot");
  EXPECT_EQ(d.who.key, &k.keys[0]);

  // Scheme case-insensitive, several spaces.
  const std::string odd = "bEaReR   " + k.key;
  EXPECT_EQ(decide(k.route, {.authorization = odd, .authorization_fields = 1}, k.keys, nullptr, now).verdict, kind::allowed);

  auto elsewhere = k.route;
  elsewhere.name = "admin";
  d = decide(elsewhere, {.authorization = header, .authorization_fields = 1}, k.keys, nullptr, now);
  EXPECT_EQ(d.verdict, kind::forbidden);
  EXPECT_EQ(d.reason, "auth_key_not_allowed");
  EXPECT_EQ(d.status(), 403u);

  d = decide(k.route, {.authorization = "Bearer mgk_nope", .authorization_fields = 1}, k.keys, nullptr, now);
  EXPECT_EQ(d.verdict, kind::invalid);
  EXPECT_EQ(d.reason, "auth_invalid_key");
  EXPECT_EQ(challenge(k.route, d), "Bearer realm=\"mcpgate\", error=\"invalid_token\"");

  d = decide(k.route, {}, k.keys, nullptr, now);
  EXPECT_EQ(d.verdict, kind::missing);
  EXPECT_EQ(d.status(), 401u);
  EXPECT_EQ(challenge(k.route, d), "Bearer realm=\"mcpgate\"");

  d = decide(k.route, {.authorization = "Basic dXNlcjpwYXNz", .authorization_fields = 1}, k.keys, nullptr, now);
  EXPECT_EQ(d.reason, "auth_malformed");
  EXPECT_EQ(d.status(), 401u);
  d = decide(k.route, {.authorization = header, .authorization_fields = 2}, k.keys, nullptr, now);
  EXPECT_EQ(d.reason, "auth_malformed");
  EXPECT_EQ(d.status(), 400u);
}

TEST(Authenticate, TokenInTheQueryStringIsRefusedWhateverElseComes) {
  keyed k;
  const std::string header = "Bearer " + k.key;
  for (std::string_view target : {"/mcp?access_token=abc", "/mcp?x=1&access_token=", "/mcp?access_token"}) {
    auto d = decide(k.route, {.authorization = header, .authorization_fields = 1, .target = target}, k.keys, nullptr, now);
    EXPECT_EQ(d.verdict, kind::bad_request) << target;
    EXPECT_EQ(d.reason, "auth_token_in_query");
    EXPECT_EQ(d.status(), 400u);
  }
  EXPECT_FALSE(token_in_query("/mcp?not_access_token=1"));
  EXPECT_FALSE(token_in_query("/mcp"));
}

TEST(Authenticate, OauthWithoutKeysYetIsUnavailableNotUnauthorized) {
  const auto route = oauth_route();
  auto d = decide(route, {.authorization = "Bearer a.b.c", .authorization_fields = 1}, {}, nullptr, now);
  EXPECT_EQ(d.verdict, kind::keys_unavailable);
  EXPECT_EQ(d.status(), 503u);
  EXPECT_TRUE(d.unknown_kid) << "the caller fetches the keys and decides again";
  EXPECT_EQ(challenge(route, d), "");

  d = decide(route, {}, {}, nullptr, now);
  EXPECT_EQ(d.verdict, kind::missing);
  EXPECT_EQ(challenge(route, d),
            "Bearer resource_metadata=\"https://files.example.com/.well-known/oauth-protected-resource/mcp\", "
            "scope=\"mcp:tools\"");
  const auto empty = std::make_shared<const jwk_set>();
  d = decide(route, {.authorization = "Bearer not-a-jwt", .authorization_fields = 1}, {}, empty, now);
  EXPECT_EQ(d.verdict, kind::invalid);
  EXPECT_EQ(d.reason, "auth_invalid_token");
  EXPECT_NE(challenge(route, d).find("error=\"invalid_token\", error_description=\"malformed\""), std::string::npos)
      << challenge(route, d);
}

TEST(Authenticate, AVerifiedTokenIsRememberedButStillExpires) {
  auto route = oauth_route();
  const auto key = test::signing_key::ec_p256("k");
  const auto parsed = parse_jwk_set(test::jwks_json({&key}));
  const auto keys = std::make_shared<const jwk_set>(*parsed.set);
  const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto token = key.sign({{"iss", "https://auth.example.com"}, {"aud", "https://files.example.com/mcp"},
                               {"sub", "alice"}, {"exp", t + 120}, {"scope", "mcp:tools"}});
  const std::string header = "Bearer " + token;
  const presented request{.authorization = header, .authorization_fields = 1};
  EXPECT_EQ(decide(route, request, {}, keys, now).verdict, kind::allowed);
  EXPECT_EQ(decide(route, request, {}, keys, now).verdict, kind::allowed) << "from the cache";
  auto later = decide(route, request, {}, keys, now + std::chrono::minutes(5));
  EXPECT_EQ(later.verdict, kind::invalid);
  EXPECT_EQ(later.detail.substr(0, 7), "expired");
  // Other settings (another audience) never reuse what was verified for these.
  auto other = route;
  other.auth.oauth->audience = "https://other.example.com/mcp";
  EXPECT_EQ(decide(other, request, {}, keys, now).verdict, kind::invalid);
  // New keys without this one: verified again, and refused.
  const auto other_key = test::signing_key::ec_p256("k2");
  const auto rotated = std::make_shared<const jwk_set>(*parse_jwk_set(test::jwks_json({&other_key})).set);
  EXPECT_EQ(decide(route, request, {}, rotated, now).verdict, kind::invalid);
}

TEST(Authenticate, ClientCertificatesMatchByName) {
  config::route route;
  route.name = "admin";
  route.auth.client_cert = config::client_cert_rule{{"*.clients.example.com"}};
  client_certificate good{"alice", {"alice.clients.example.com", "alice"}};
  client_certificate other{"mallory", {"mallory.example.org", "mallory"}};
  auto d = decide(route, {.certificate = &good}, {}, nullptr, now);
  ASSERT_EQ(d.verdict, kind::allowed);
  EXPECT_EQ(d.who.label(), "cert:alice.clients.example.com");
  d = decide(route, {.certificate = &other}, {}, nullptr, now);
  EXPECT_EQ(d.verdict, kind::forbidden);
  EXPECT_EQ(d.reason, "auth_client_cert_required");
  d = decide(route, {}, {}, nullptr, now);
  EXPECT_EQ(d.status(), 403u);
  EXPECT_EQ(challenge(route, d), "");
}

TEST(Authenticate, MetadataNamesTheResourceAndItsIssuer) {
  auto route = oauth_route();
  EXPECT_EQ(metadata_path(*route.auth.oauth), "/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(metadata_url(*route.auth.oauth), "https://files.example.com/.well-known/oauth-protected-resource/mcp");
  const auto doc = boost::json::parse(metadata_document(*route.auth.oauth)).as_object();
  EXPECT_EQ(doc.at("resource").as_string(), "https://files.example.com/mcp");
  EXPECT_EQ(doc.at("authorization_servers").as_array().at(0).as_string(), "https://auth.example.com");
  EXPECT_EQ(doc.at("scopes_supported").as_array().at(0).as_string(), "mcp:tools");
  EXPECT_EQ(doc.at("bearer_methods_supported").as_array().at(0).as_string(), "header");
  route.auth.oauth->audience = "https://files.example.com";
  EXPECT_EQ(metadata_path(*route.auth.oauth), "/.well-known/oauth-protected-resource");
  route.auth.oauth->audience = "https://files.example.com:8443/";
  EXPECT_EQ(metadata_url(*route.auth.oauth), "https://files.example.com:8443/.well-known/oauth-protected-resource");
}

TEST(CallerConditions, PatternsCountOnlyForCallersMeetingThem) {
  config::name_rule rule;
  rule.where = "routes.files.tools";
  rule.allow.push_back({"read_*", {}});
  config::caller_condition writers;
  writers.scopes = {"files:write"};
  rule.allow.push_back({"write_file", writers});
  config::caller_condition bots;
  bots.keys = {"ci-*"};
  rule.deny.push_back({"read_secrets", bots});

  identity anonymous;
  identity reader{.how = identity::method::oauth, .subject = "alice", .scopes = {"files:read"}};
  identity writer{.how = identity::method::oauth, .subject = "bob", .scopes = {"files:read", "files:write"}};
  identity bot{.how = identity::method::api_key, .subject = "ci-bot"};
  using mcp::name_verdict;
  EXPECT_EQ(mcp::check(rule, "write_file", &writer), name_verdict::allowed);
  EXPECT_EQ(mcp::check(rule, "write_file", &reader), name_verdict::denied_by_allow);
  EXPECT_EQ(mcp::check(rule, "write_file", &anonymous), name_verdict::denied_by_allow);
  EXPECT_EQ(mcp::check(rule, "write_file", nullptr), name_verdict::denied_by_allow);
  EXPECT_EQ(mcp::check(rule, "read_secrets", &bot), name_verdict::denied_by_deny);
  EXPECT_EQ(mcp::check(rule, "read_secrets", &reader), name_verdict::allowed);
  EXPECT_EQ(bot.label(), "key:ci-bot");
  EXPECT_EQ(writer.label(), "oauth:bob");
}

TEST(CallerConditions, AnApiKeysToolsNarrowWhatItsCallerMayCall) {
  config::api_key key;
  key.name = "reader";
  key.tools.where = "api_keys[0].tools";
  key.tools.allow.push_back({"read_*", {}});
  identity who{.how = identity::method::api_key, .subject = "reader", .key = &key};
  config::mcp_policy policy;  // the route itself allows everything
  mcp::message_info call;
  call.kind = mcp::message_kind::request;
  call.method = "tools/call";
  call.name = "write_file";
  call.id = "1";
  auto refusal = mcp::refused_call(policy, call, &who);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->rule, "api_keys[0].tools.allow");
  EXPECT_EQ(refusal->code, -32602);
  call.name = "read_file";
  EXPECT_FALSE(mcp::refused_call(policy, call, &who));
  EXPECT_FALSE(mcp::refused_call(policy, call, nullptr));

  mcp::inspected_request listing;
  mcp::message_info list;
  list.kind = mcp::message_kind::request;
  list.method = "tools/list";
  list.id = "7";
  listing.messages.push_back(list);
  const auto filters = mcp::list_filters(policy, listing, &who);
  ASSERT_EQ(filters.size(), 1u);
  const auto out = mcp::filter_list_responses(
      R"({"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"read_file"},{"name":"write_file"}]}})", filters);
  ASSERT_TRUE(out.rewritten);
  EXPECT_NE(out.rewritten->find("read_file"), std::string::npos);
  EXPECT_EQ(out.rewritten->find("write_file"), std::string::npos);
  EXPECT_TRUE(mcp::list_filters(policy, listing, nullptr).empty()) << "no key, no rule: lists pass untouched";
}

}  // namespace
}  // namespace mcpgate::auth
