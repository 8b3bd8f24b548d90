#include "auth/authenticate.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "auth/api_key.hpp"
#include "auth/introspection.hpp"
#include "auth/jwt.hpp"
#include "pki/text.hpp"

namespace mcpgate::auth {

namespace {

// RFC 6750 2.1: `Bearer` (any case), one or more spaces, a token68. nullopt: another
// scheme or a malformed value.
std::optional<std::string_view> bearer_token(std::string_view header) {
  constexpr std::string_view scheme = "bearer";
  if (header.size() <= scheme.size() || !boost::beast::iequals(header.substr(0, scheme.size()), scheme) ||
      header[scheme.size()] != ' ') {
    return std::nullopt;
  }
  auto token = header.substr(scheme.size());
  token.remove_prefix(std::min(token.find_first_not_of(' '), token.size()));
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  const bool token68 = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-._~+/=").find(c) != std::string_view::npos;
  });
  if (!token68) return std::nullopt;
  return token;
}

decision refused(decision::kind verdict, std::string reason, std::string detail = {}) {
  decision d;
  d.verdict = verdict;
  d.reason = std::move(reason);
  d.detail = std::move(detail);
  return d;
}

// An audience without a path is the same resource with and without the trailing slash
// (clients normalise `https://mcp.example.com` to `https://mcp.example.com/` when they send
// it as the RFC 8707 resource).
std::vector<std::string> accepted_audiences(const std::string& audience) {
  std::vector<std::string> out{audience};
  auto url = boost::urls::parse_absolute_uri(audience);
  if (url && (url->encoded_path().empty() || url->encoded_path() == "/") && !url->has_query()) {
    out.push_back(url->encoded_path().empty() ? audience + "/" : audience.substr(0, audience.size() - 1));
  }
  return out;
}

// Tokens whose signatures verified, on this thread (each worker has its own: no locks).
// An entry counts only for the same keys (held, so their address cannot be reused) and
// the same issuer and audience; the time claims are checked again on every use.
struct verified_token {
  std::shared_ptr<const jwk_set> keys;
  std::string issuer, audience;
  token_claims claims;
};

std::unordered_map<std::string, verified_token>& verified_tokens() {
  thread_local std::unordered_map<std::string, verified_token> cache;
  return cache;
}

decision refused_token(const jwt_refusal& refusal) {
  auto d = refused(decision::kind::invalid, "auth_invalid_token",
                   refusal.reason + (refusal.detail.empty() ? "" : ": " + refusal.detail));
  d.unknown_kid = refusal.reason == "unknown_kid";
  return d;
}

decision admitted(const config::oauth_settings& oauth, const token_claims& claims);

decision decide_oauth(const config::oauth_settings& oauth, std::string_view token,
                      const std::shared_ptr<const jwk_set>& jwks, std::chrono::system_clock::time_point now) {
  if (!jwks) {
    auto d = refused(decision::kind::keys_unavailable, "auth_keys_unavailable", "no keys from " + oauth.issuer + " yet");
    d.unknown_kid = true;
    return d;
  }
  const auto leeway = std::chrono::duration_cast<std::chrono::seconds>(oauth.leeway);
  const auto digest = sha256_of(token);
  const std::string cache_key(reinterpret_cast<const char*>(digest.data()), digest.size());
  auto& cache = verified_tokens();
  const auto hit = cache.find(cache_key);
  if (hit != cache.end() && hit->second.keys == jwks && hit->second.issuer == oauth.issuer &&
      hit->second.audience == oauth.audience) {
    // Signature, issuer and audience held when it was cached; only time moves on.
    if (auto refusal = check_times(hit->second.claims, leeway, true, now)) {
      cache.erase(hit);
      return refused_token(*refusal);
    }
    return admitted(oauth, hit->second.claims);  // read in place: a hit copies nothing
  }
  claim_rules rules;
  rules.issuer = oauth.issuer;
  rules.audiences = accepted_audiences(oauth.audience);
  rules.leeway = leeway;
  auto verified = verify_jwt(token, *jwks, rules, now);
  if (!verified.claims) return refused_token(verified.refusal);
  // Bounded: a flood of distinct valid tokens empties the cache rather than growing it.
  if (cache.size() >= verified_token_cache_size) cache.clear();
  auto& entry = cache[cache_key];
  entry = {jwks, oauth.issuer, oauth.audience, std::move(*verified.claims)};
  return admitted(oauth, entry.claims);
}

// A compact JWS: three base64url parts (an empty one still makes a JWT, refused later for
// what it lacks). Anything else, a JWE's five parts included, is an opaque token.
bool looks_like_jwt(std::string_view token) {
  // Runs on every request with a token: plain range checks (std::isalnum consults the
  // locale per character, a third of a cached token's whole cost).
  int dots = 0;
  for (const char c : token) {
    if (c == '.') {
      ++dots;
    } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return false;
    }
  }
  return dots == 2;
}

// RFC 7662 token_type is the OAuth token type (RFC 6749 7.1): only a bearer token may be
// presented as one (a DPoP-bound or refresh token may not).
bool bearer_token_type(std::string_view type) {
  return boost::beast::iequals(type, "bearer") || boost::beast::iequals(type, "access_token") ||
         type == "urn:ietf:params:oauth:token-type:access_token";
}

decision admitted(const config::oauth_settings& oauth, const token_claims& claims) {
  decision d;
  d.who.how = identity::method::oauth;
  d.who.subject = claims.subject;
  d.who.client_id = claims.client_id;
  d.who.scopes = claims.scopes;
  for (const auto& scope : oauth.scopes) {
    if (std::find(claims.scopes.begin(), claims.scopes.end(), scope) == claims.scopes.end()) {
      d.missing_scopes.push_back(scope);
    }
  }
  if (!d.missing_scopes.empty()) {
    d.verdict = decision::kind::forbidden;
    d.reason = "auth_insufficient_scope";
    d.detail = "missing scope";
    for (const auto& s : d.missing_scopes) d.detail += " " + s;
    return d;
  }
  d.verdict = decision::kind::allowed;
  return d;
}

bool certificate_matches(const config::client_cert_rule& rule, const client_certificate& cert) {
  return rule.names.empty() || any_glob_matches(rule.names, cert.names);
}

std::string quoted(std::string_view value) {
  // Values here come from the config (validated: no quotes) or are fixed strings; escape anyway.
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

}  // namespace

unsigned decision::status() const {
  switch (verdict) {
    case kind::allowed: return 200;
    case kind::missing:
    case kind::invalid: return 401;
    case kind::forbidden: return 403;
    case kind::bad_request: return 400;
    case kind::keys_unavailable:
    case kind::introspection_unavailable: return 503;
  }
  return 401;
}

decision decide(const config::route& route, const presented& request, const std::vector<config::api_key>& keys,
                const std::shared_ptr<const jwk_set>& jwks, std::chrono::system_clock::time_point now) {
  const auto& auth = route.auth;
  if (token_in_query(request.target)) {
    return refused(decision::kind::bad_request, "auth_token_in_query",
                   "access_token in the query string (send it as Authorization: Bearer)");
  }
  if (request.authorization_fields > 1) {
    return refused(decision::kind::bad_request, "auth_malformed", "several Authorization fields");
  }
  // A verified client certificate that the route accepts is enough on its own.
  if (auth.client_cert && request.certificate && certificate_matches(*auth.client_cert, *request.certificate)) {
    decision d;
    d.verdict = decision::kind::allowed;
    d.who.how = identity::method::client_cert;
    d.who.subject = request.certificate->subject_cn;
    d.who.cert_names = request.certificate->names;
    return d;
  }
  const bool takes_bearer = auth.oauth || auth.api_keys;
  if (request.authorization.empty() || !takes_bearer) {
    if (auth.client_cert && !takes_bearer) {
      return refused(decision::kind::forbidden, "auth_client_cert_required",
                     request.certificate ? "client certificate names not allowed" : "no client certificate");
    }
    return refused(decision::kind::missing, "auth_missing");
  }
  const auto token = bearer_token(request.authorization);
  if (!token) return refused(decision::kind::invalid, "auth_malformed", "Authorization is not \"Bearer <token>\"");
  if (auth.api_keys && token->substr(0, api_key_prefix.size()) == api_key_prefix) {
    const auto* key = find_api_key(keys, *token);
    if (!key) return refused(decision::kind::invalid, "auth_invalid_key", "unknown API key");
    if (!api_key_allows_route(*key, route)) {
      return refused(decision::kind::forbidden, "auth_key_not_allowed", "key " + key->name + " is not for this route");
    }
    decision d;
    d.verdict = decision::kind::allowed;
    d.who.how = identity::method::api_key;
    d.who.subject = key->name;
    d.who.key = key;
    return d;
  }
  if (!auth.oauth) return refused(decision::kind::invalid, "auth_invalid_key", "not an API key");
  const bool jwt = looks_like_jwt(*token);
  if (auth.oauth->introspection && (!jwt || auth.oauth->introspects_every_token())) {
    // The bound of a JWT: no endpoint is sent more than that.
    if (token->size() > max_token_bytes) {
      return refused(decision::kind::invalid, "auth_invalid_token",
                     "too_large: " + std::to_string(token->size()) + " bytes (at most " +
                         std::to_string(max_token_bytes) + ")");
    }
    auto d = refused(decision::kind::introspection_unavailable, "auth_introspection_unavailable", "not introspected");
    d.introspect = *token;
    return d;
  }
  if (!jwt) return refused(decision::kind::invalid, "auth_invalid_token", "malformed: not a JWT");
  return decide_oauth(*auth.oauth, *token, jwks, now);
}

decision decide_introspected(const config::oauth_settings& oauth, const introspection_outcome& outcome,
                             std::chrono::system_clock::time_point now) {
  if (!outcome.response) {
    return refused(decision::kind::introspection_unavailable, "auth_introspection_unavailable", outcome.error);
  }
  const auto& answer = *outcome.response;
  const auto invalid = [](std::string detail) {
    return refused(decision::kind::invalid, "auth_invalid_token", std::move(detail));
  };
  if (!answer.active) return invalid("inactive: the authorization server says the token is not active");
  if (!answer.token_type.empty() && !bearer_token_type(answer.token_type)) {
    return invalid("wrong_token_type: " + pki::printable(answer.token_type, 64));
  }
  // Optional in RFC 7662, so checked when present: a server that introspects tokens of
  // several issuers or resources says which this one is for.
  const auto& claims = answer.claims;
  if (!claims.issuer.empty() && claims.issuer != oauth.issuer) {
    return invalid("wrong_issuer: iss is not the configured issuer");
  }
  if (!claims.audience.empty()) {
    const auto accepted = accepted_audiences(oauth.audience);
    const bool named = std::any_of(claims.audience.begin(), claims.audience.end(), [&](const std::string& a) {
      return std::find(accepted.begin(), accepted.end(), a) != accepted.end();
    });
    if (!named) return invalid("wrong_audience: aud does not name this resource");
  }
  if (auto refusal = check_times(claims, std::chrono::duration_cast<std::chrono::seconds>(oauth.leeway), false, now)) {
    return refused_token(*refusal);
  }
  return admitted(oauth, claims);
}

std::string challenge(const config::route& route, const decision& d) {
  const auto& auth = route.auth;
  if (d.status() == 503 || d.verdict == decision::kind::allowed) return "";
  if (!auth.oauth && !auth.api_keys) return "";  // client certificates only: nothing to send in a header
  if (d.reason == "auth_client_cert_required") return "";
  std::vector<std::string> params;
  if (auth.oauth) {
    params.push_back("resource_metadata=" + quoted(metadata_url(*auth.oauth)));
  } else {
    params.push_back("realm=\"mcpgate\"");
  }
  if (d.verdict == decision::kind::invalid) {
    params.push_back("error=\"invalid_token\"");
    // The first word of the refusal only ("expired", "wrong_audience"): enough for the
    // client, nothing about the token's contents.
    const auto word = d.detail.substr(0, d.detail.find(':'));
    if (!word.empty() && d.reason == "auth_invalid_token") params.push_back("error_description=" + quoted(word));
  } else if (d.verdict == decision::kind::bad_request) {
    params.push_back("error=\"invalid_request\"");
  } else if (d.verdict == decision::kind::forbidden && d.reason == "auth_insufficient_scope") {
    params.push_back("error=\"insufficient_scope\"");
  }
  if (auth.oauth && !auth.oauth->scopes.empty()) params.push_back("scope=" + quoted(joined(auth.oauth->scopes)));
  std::string out = "Bearer";
  for (std::size_t i = 0; i < params.size(); ++i) out += (i ? ", " : " ") + params[i];
  return out;
}

std::string resource_path(const config::oauth_settings& oauth) {
  auto url = boost::urls::parse_absolute_uri(oauth.audience);
  const std::string path = url ? std::string(url->encoded_path()) : std::string();
  return path.empty() ? "/" : path;
}

std::string metadata_path(const config::oauth_settings& oauth) {
  const auto path = resource_path(oauth);
  return std::string(metadata_prefix) + (path == "/" ? "" : path);
}

std::string metadata_url(const config::oauth_settings& oauth) {
  auto url = boost::urls::parse_absolute_uri(oauth.audience);
  if (!url) return std::string(metadata_prefix);
  return std::string(url->scheme()) + "://" + std::string(url->encoded_authority()) + metadata_path(oauth);
}

std::string metadata_document(const config::oauth_settings& oauth) {
  boost::json::object doc;
  doc["resource"] = oauth.audience;
  doc["authorization_servers"] = boost::json::array{boost::json::value(oauth.issuer)};
  doc["bearer_methods_supported"] = boost::json::array{"header"};
  if (!oauth.scopes.empty()) {
    boost::json::array scopes;
    for (const auto& s : oauth.scopes) scopes.emplace_back(s);
    doc["scopes_supported"] = std::move(scopes);
  }
  if (!oauth.resource_name.empty()) doc["resource_name"] = oauth.resource_name;
  return boost::json::serialize(doc);
}

bool token_in_query(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return false;
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return target.find("access_token", q) != std::string_view::npos;  // unparsable: be safe
  for (const auto& param : parsed->params()) {
    if (param.key == "access_token") return true;
  }
  return false;
}

}  // namespace mcpgate::auth
