// How request and response headers change as they cross the gateway (RFC 9110 §7.6).
// Pure functions over Beast headers, so every rule is unit-tested without sockets.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/fields.hpp>

#include "config/config.hpp"
#include "net/ip_prefix.hpp"

namespace mcpgate::http {

namespace beast_http = boost::beast::http;

// Removes hop-by-hop fields: Connection and every field it names, Keep-Alive,
// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authorization,
// Proxy-Authenticate. Transfer-Encoding is re-decided by the serializer on each hop.
void strip_hop_by_hop(beast_http::fields& fields);

struct forward_context {
  std::string client_ip;      // the socket peer
  bool client_tls = false;    // downstream listener was TLS (or ws + inner TLS)
  std::string original_host;  // Host as the client sent it
  // The instance the request goes to (routes with several upstreams); null: route.upstream.
  const config::upstream_target* target = nullptr;
};

// Turns a client request header into the upstream request header, in place:
// hop-by-hop stripped; Host = upstream authority unless the route preserves it;
// X-Forwarded-For / -Proto / -Host and Forwarded set from what the gateway saw itself
// (client-supplied values are dropped: an untrusted peer must not choose the address
// upstreams see — trusted proxies come with the access-policy work); Expect dropped
// (the gateway answers 100-continue itself); with `strip_path`, the target loses the
// route's path (stripped_target); Authorization dropped on routes with `auth` (unless
// auth.pass_authorization) and `upstream_auth` set. Everything else, including every MCP
// header (and Authorization on a route without auth: the upstream's own OAuth), passes
// unchanged.
void prepare_upstream_request(beast_http::request_header<>& req, const config::route& route,
                              const forward_context& ctx);

// The client address a proxy in front of us reports: Cf-Connecting-Ip (what cloudflared
// passes on), else the last X-Forwarded-For entry (the one that proxy appended). Returns
// the address in canonical text form, nullopt when neither field holds a valid address.
// Callers use it only for a peer in trusted_proxies.
std::optional<std::string> forwarded_client_address(const beast_http::fields& fields);

// The client behind a chain of proxies whose nearest hop (the socket peer) is trusted:
// the X-Forwarded-For entries read right to left, skipping addresses in `trusted`; the
// first untrusted one is the client (all trusted: the leftmost). Without X-Forwarded-For,
// Cf-Connecting-Ip, then the `for=` of a Forwarded header (RFC 7239), the same way. An
// entry that is not an address ("unknown", garbage) ends the walk with nullopt: the
// caller then keeps the peer's address rather than guess.
std::optional<std::string> client_behind_proxies(const beast_http::fields& fields, const net::ip_prefix_set& trusted);

// The request-target without the route prefix `prefix` (a route path: "/" or without a
// trailing '/'): "/everything/mcp?x=1" -> "/mcp?x=1", "/everything" -> "/",
// "/everything?x=1" -> "/?x=1". The query is kept byte for byte. A prefix of "/", or a
// target the prefix does not match at a '/' boundary (the router never routes one here),
// gives the target unchanged.
std::string stripped_target(std::string_view prefix, std::string_view target);

// Turns an upstream response header into the client response header, in place.
void prepare_downstream_response(beast_http::response_header<>& res);

// True when a request-target's path holds "." or ".." segments (also %2e-encoded).
// Such targets are refused: routing sees the raw path, an upstream may normalise it,
// and the two must never disagree about which path was asked for.
bool has_dot_segments(std::string_view target);

}  // namespace mcpgate::http
