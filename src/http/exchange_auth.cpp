// Route `auth:` at the exchange: credentials checked before the body is read, the
// refusals of the MCP authorization spec (401 with a challenge naming the protected
// resource metadata, 403 insufficient_scope), and the metadata document itself.
#include <spdlog/spdlog.h>

#include "auth/authenticate.hpp"
#include "auth/introspection.hpp"
#include "auth/jwt.hpp"
#include "auth/key_source.hpp"
#include "http/proxy_session.hpp"
#include "http/snapshot.hpp"
#include "observability/throttle.hpp"
#include "observability/log.hpp"

namespace mcpgate::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

std::string_view message_for(const auth::decision& d) {
  switch (d.verdict) {
    case auth::decision::kind::missing: return "Unauthorized: this route needs a credential";
    case auth::decision::kind::invalid: return "Unauthorized: the credential is not valid here";
    case auth::decision::kind::forbidden:
      return d.reason == "auth_insufficient_scope" ? "Forbidden: the token lacks a scope this route needs"
                                                   : "Forbidden: this credential is not allowed on this route";
    case auth::decision::kind::bad_request:
      return d.reason == "auth_token_in_query" ? "Bad request: send the access token in the Authorization header"
                                               : "Bad request: malformed Authorization";
    case auth::decision::kind::keys_unavailable:
      return "Service unavailable: the authorization server's keys could not be fetched";
    case auth::decision::kind::introspection_unavailable:
      return "Service unavailable: the authorization server could not check the token";
    case auth::decision::kind::allowed: break;
  }
  return "";
}

}  // namespace

asio::awaitable<std::optional<bool>> downstream_session::authenticate(const runtime_snapshot& snap,
                                                                      const config::route& route, request_parser& parser,
                                                                      observability::access_record& log,
                                                                      auth::identity& caller) {
  const auto& req = parser.get();
  auth::presented request;
  request.authorization = req[bhttp::field::authorization];
  request.authorization_fields = req.count(bhttp::field::authorization);
  request.target = req.target();
  std::optional<auth::client_certificate> certificate;
  if (route.auth.client_cert) {
    certificate = auth::verified_client_certificate(stream_.native_ssl());
    if (certificate) request.certificate = &*certificate;
  }
  auto* source = snap.key_source_of(route);
  auto keys = source ? source->keys() : nullptr;
  auto decision = auth::decide(route, request, snap.cfg->api_keys, keys, std::chrono::system_clock::now());
  if (decision.unknown_kid && source) {
    // The issuer may have rotated its keys; the source refetches at most every few seconds
    // however many tokens name unknown kids.
    const auto refreshed = co_await source->refresh_for_unknown_kid();
    if (refreshed.stopped) {
      decision = auth::decision{};
      decision.verdict = auth::decision::kind::keys_unavailable;
      decision.reason = "auth_keys_unavailable";
      decision.detail = "shutting down";
    } else {
      decision = auth::decide(route, request, snap.cfg->api_keys, refreshed.keys, std::chrono::system_clock::now());
    }
  }
  if (!decision.introspect.empty()) {
    // Opaque token: the worker's cache, else the authorization server (this coroutine
    // waits; the worker goes on with other exchanges). No introspector: stays 503.
    if (const auto* introspector = snap.introspector_of(route)) {
      const auto outcome = co_await introspector->introspect(std::string(decision.introspect));
      decision = auth::decide_introspected(*route.auth.oauth, outcome, std::chrono::system_clock::now());
    }
  }
  log.caller = decision.who.label();
  if (decision.verdict == auth::decision::kind::allowed) {
    caller = std::move(decision.who);
    co_return std::nullopt;
  }
  // Scanners and expired tokens come in floods: one line per route and reason per second.
  if (auto held = observability::warnings().admit(route.name + "|" + decision.reason)) {
    log::auth().info("auth refused route={} client={} reason={} caller={} detail={}{}", route.name, exchange_client_,
                     decision.reason, log.caller, decision.detail, observability::held_back(*held));
  }
  reply_fields fields;
  if (auto challenge = auth::challenge(route, decision); !challenge.empty()) {
    fields.emplace_back("WWW-Authenticate", std::move(challenge));
  }
  co_return co_await refuse(decision.status(), decision.reason, message_for(decision), log, parser, &route,
                            std::nullopt, fields);
}

const config::route* downstream_session::metadata_route(const runtime_snapshot& snap, std::string_view host,
                                                        std::string_view path) const {
  if (path.substr(0, auth::metadata_prefix.size()) != auth::metadata_prefix) return nullptr;
  for (const auto& route : snap.cfg->routes) {
    if (!route.auth.oauth || auth::metadata_path(*route.auth.oauth) != path) continue;
    // The document is served where the resource is: on a host this route answers.
    if (snap.routes.match(host, auth::resource_path(*route.auth.oauth)) == &route) return &route;
  }
  return nullptr;
}

}  // namespace mcpgate::http
