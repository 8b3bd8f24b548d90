// The gateway's configuration as plain, already-validated structs.
//
// A `config` is built once by config::load_* (loader.hpp), never modified afterwards, and
// shared as std::shared_ptr<const config>: a reload builds a new one and swaps it in; an
// exchange keeps the snapshot it started with. Nothing here does I/O.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/ip_prefix.hpp"
#include "net/ip_set.hpp"

namespace mcpgate::config {

using duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

enum class log_level { debug, info, warn, error };
enum class log_format { text, json };

// Where the process log and the access log go, and in which format (`log_format`,
// `log_file`, `access_log_file`).
struct log_settings {
  // Unset: a text process log and a JSON access log, as before the key existed (dashboards
  // parse that JSON). Set: both logs in this format.
  std::optional<log_format> format = {};
  std::string file = {};         // "" or "-": stderr; else appended to, reopened on SIGHUP
  std::string access_file = {};  // "" or "-": stdout; else appended to, reopened on SIGHUP
  log_format process_format() const { return format.value_or(log_format::text); }
  log_format access_format() const { return format.value_or(log_format::json); }
  bool operator==(const log_settings&) const = default;
};

struct tls_files {
  std::string cert_file;
  std::string key_file;
  // How often the files are checked for changes (renewal without restart, as mcp-proxy
  // does); 0 = never (SIGHUP still re-reads them).
  duration poll_interval = 5s;
  // Client certificates (mTLS): a certificate a client sends is verified against this CA
  // file; `client_auth: required` fails the handshake of a client without one.
  std::string client_ca_file = {};
  bool client_cert_required = false;
  bool empty() const { return cert_file.empty() && key_file.empty(); }
};

// A named set of addresses (`ip_sets:`), entries optionally limited to a time window.
struct named_ip_set {
  std::string name;
  std::vector<net::ip_set_entry> entries;
};

// Who may use a listener or a route, by client address. `allow` / `deny` hold names of
// ip_sets or literal prefixes. A deny match refuses; a non-empty allow list refuses every
// address outside it.
struct access_rule {
  struct reference {
    std::string set;                      // name of an ip_sets entry, or "" for a literal
    std::optional<net::ip_prefix> prefix; // the literal
  };
  enum class deny_action { forbidden, abort };  // 403, or close without a response
  std::vector<reference> allow;
  std::vector<reference> deny;
  deny_action action = deny_action::forbidden;
  bool dry_run = false;  // log and count would-be denials, refuse nothing
  std::string where;     // "listeners[0]", "routes.echo": names the rule in logs
  bool empty() const { return allow.empty() && deny.empty(); }
};

// plain: HTTP/1.1 over TCP. tls: HTTP/1.1 over TLS. ws: Anthropic mcp-proxy's listener,
// a plaintext WebSocket whose binary stream carries TLS (the drop-in issue builds it).
enum class listener_mode { plain, tls, ws };

struct listener {
  std::string address;   // as written: ":8080", "127.0.0.1:8443", "[::1]:80"
  std::string bind_host; // "" = all interfaces (IPv4 and IPv6)
  std::uint16_t port = 0;
  listener_mode mode = listener_mode::plain;
  tls_files tls;         // the listener's own tls: keys, else the top-level tls: (tls/ws modes)
  bool from_listen_addr = false;  // built from the Anthropic `listen_addr` key
  // Checked before TLS (plain/tls: the socket peer; ws: the client cloudflared reports);
  // a refused connection is closed without a byte.
  access_rule access;
  // Every connection starts with a PROXY protocol v1/v2 header from a load balancer,
  // which names the client (before TLS and before the WebSocket upgrade).
  bool proxy_protocol = false;
  // Open connections at most (0: no limit). Beyond it new connections are closed at once;
  // the open ones keep working.
  std::uint32_t max_connections = 0;
  // Open connections per client at most (0: no limit), counted once the client is known
  // (socket peer, PROXY header, or the client a ws listener's proxy reports); an IPv6
  // client is its /64, since one host can use any address in it.
  std::uint32_t max_connections_per_client = 0;
};

// A token bucket on a route (`rate_limit:`): `requests` per `per` on average, bursts of up
// to `burst`. Each distinct key (the client, or the whole route) has its own bucket.
struct rate_limit {
  // What one bucket is for; a key is the concatenation of its parts.
  // tool: the tool of a tools/call (a limit with it applies to tool calls only, each tool
  // its own bucket); mcp_method: the JSON-RPC method (both need `mcp: true`).
  // caller: the authenticated caller (route `auth:`), e.g. one bucket per API key or per
  // token subject.
  enum class key_part { client_ip, route, tool, mcp_method, caller };
  std::uint32_t requests = 0;
  duration per = 1s;
  std::uint32_t burst = 0;  // bucket size; written as 0 / unset: `requests`
  std::vector<key_part> key{key_part::client_ip};
  // Client addresses are grouped by these prefix lengths before keying (an attacker with an
  // IPv6 /64 must not get 2^64 buckets).
  unsigned ipv4_prefix = 32;
  unsigned ipv6_prefix = 64;
  // Keys tracked at most (memory bound under address churn). Beyond it, new keys share one
  // overflow bucket until idle keys can be forgotten.
  std::uint32_t max_keys = 100'000;
  bool dry_run = false;  // log and count would-be refusals, refuse nothing
  std::string where;     // "routes.echo.rate_limit[0]": names the rule in logs and counters
};

// Which tools, prompts or resources of a route clients may see and use (`tools:`,
// `prompts:`, `resources:` on a route): shell-style globs (fnmatch: `*`, `?`, `[...]`) on
// the tool or prompt name, or on the resource URI. A deny match refuses; a non-empty allow
// list refuses everything outside it.
// Conditions on who calls (route `auth:`), every one that is set must hold. A caller the
// gateway did not authenticate meets none of them.
struct caller_condition {
  std::vector<std::string> scopes;       // the token grants every one of these
  std::vector<std::string> subjects;     // globs on the token's `sub`; any one
  std::vector<std::string> client_ids;   // globs on the token's client_id / azp; any one
  std::vector<std::string> keys;         // globs on the API key's name; any one
  std::vector<std::string> client_certs; // globs on the client certificate's names (SANs, CN); any one
  bool empty() const {
    return scopes.empty() && subjects.empty() && client_ids.empty() && keys.empty() && client_certs.empty();
  }
};

struct name_rule {
  // One glob; in the object form `{ name: write_file, scope: files:write }` it applies only
  // to callers meeting the conditions.
  struct pattern {
    std::string glob;
    caller_condition caller = {};
  };
  std::vector<pattern> allow;
  std::vector<pattern> deny;
  bool dry_run = false;  // log and count would-be refusals, refuse and hide nothing
  std::string where;     // "routes.files.tools": names the rule in logs and counters
  bool empty() const { return allow.empty() && deny.empty(); }
};

struct mcp_policy {
  name_rule tools;
  name_rule prompts;
  name_rule resources;
  bool empty() const { return tools.empty() && prompts.empty() && resources.empty(); }
};

// Per-route overrides of the top-level `limits` (unset: the top-level value).
struct route_limits {
  std::optional<std::uint32_t> max_request_header_bytes;
  std::optional<std::uint64_t> max_request_body_bytes;
};

// An upstream in Anthropic's form `scheme://host:port` (port mandatory, no path), or a
// local stdio server (scheme "stdio", see `stdio_server`).
struct upstream_target {
  std::string scheme;  // "http", "https" or "stdio"
  std::string host;    // DNS name or IP literal, IPv6 without brackets, lower case
  std::uint16_t port = 0;
  std::string stdio_command = {};  // stdio: the command as written, for logs
  bool tls() const { return scheme == "https"; }
  bool stdio() const { return scheme == "stdio"; }
  // host:port, IPv6 in brackets: the Host header value and the pool key ("stdio" for stdio).
  std::string authority() const;
  // "http://host:port", or "stdio:<command>".
  std::string to_string() const;
};

// A local MCP server that speaks JSON-RPC on stdin/stdout (`upstream: stdio:<command>` or
// `upstream: { command: ... }`). The gateway starts it and serves it as Streamable HTTP
// (src/stdio/bridge.hpp): one process per MCP session unless `shared`.
struct stdio_server {
  // What is executed: argv[0] is looked up in the child's PATH; no shell unless `shell`
  // (then argv is {"/bin/sh", "-c", command, "sh", args...}).
  std::vector<std::string> argv;
  std::string command_text;  // as written, for logs and the summary
  // The child's environment: these names copied from the gateway's environment (when set
  // there), then `env` on top. Nothing else leaks (the gateway's may hold tunnel tokens).
  std::vector<std::string> pass_env{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"};
  std::vector<std::pair<std::string, std::string>> env;
  std::string cwd;   // "" = the gateway's
  std::string user;  // run as this user (name or uid; the gateway must be root to switch)
  bool shell = false;
  // One process for every session (JSON-RPC ids and progress tokens are rewritten so
  // sessions never see each other's messages); default one process per MCP session.
  bool shared = false;
  std::uint32_t max_processes = 16;     // live processes of this route at most
  duration idle_timeout = 10min;        // a session with no request or open stream this long ends
  duration start_timeout = 60s;         // process start until its answer to initialize
  std::uint64_t max_message_bytes = 16 * 1024 * 1024;  // one line on the server's stdout
  // Everything above as one string: a reload keeps a route's running processes only while
  // this stays the same.
  std::string identity() const;
};

// Active checks of a route's upstreams (`health_check:`): an instance failing
// `unhealthy_after` checks in a row gets no new sessions until `healthy_after` pass.
struct health_check {
  bool enabled = false;     // the key was written
  std::string path;         // "": connect (+ TLS) only; else GET path, healthy when the status is < 500
  duration interval = 5s;
  duration timeout = 2s;
  std::uint32_t unhealthy_after = 2;
  std::uint32_t healthy_after = 1;
};

// `auth: { oauth: ... }`: the gateway is the OAuth 2.1 resource server of the route
// (MCP authorization spec): JWT access tokens checked with the issuer's keys.
// `oauth.introspection`: opaque tokens checked by the authorization server (RFC 7662).
struct introspection_settings {
  std::string endpoint;       // https URL of the introspection endpoint
  std::string client_id;      // the gateway's own client at the authorization server
  std::string client_secret;  // never logged, never in the config summary
  std::string secret_source;  // "file <path>" or "env <NAME>": what messages name instead
  duration cache = 60s;       // how long an answer is reused (0 = never; at most 5m)
  duration timeout = 5s;      // one introspection request, connect to last byte
};

struct oauth_settings {
  std::string issuer;     // https URL; tokens' `iss` must equal it
  std::string audience;   // the route's public URL: tokens' `aud` must name it; the metadata's `resource`
  std::string jwks_uri;   // "" = found through the issuer's metadata (RFC 8414, then OpenID discovery)
  std::vector<std::string> scopes;  // every request needs all of these
  duration leeway = 60s;  // clock skew allowed on exp / nbf / iat
  // Fetching the issuer's metadata and keys: trust anchors ("" = the system's) and
  // special-purpose addresses (loopback, private ranges) the issuer may resolve to, which
  // are refused otherwise (SSRF).
  std::string ca_file;
  std::vector<net::ip_prefix> allowed_ips;
  duration refresh_interval = 1h;
  std::string resource_name;  // optional human name in the protected resource metadata
  // Set: tokens that are not JWTs are introspected; without jwks_uri, every token is (and
  // no keys are fetched).
  std::optional<introspection_settings> introspection;
  bool introspects_every_token() const { return introspection && jwks_uri.empty(); }
  // Where the keys come from, as one string: routes with equal ones share one key cache.
  std::string key_source_identity() const;
};

// `auth: { client_cert: ... }`: a client certificate the listener verified
// (`tls.client_ca_file`), optionally with one of these names.
struct client_cert_rule {
  std::vector<std::string> names;  // globs on SANs (DNS, email, URI) and the subject CN; empty: any verified certificate
};

// `auth:` on a route: who may call it. With several methods a request needs any one.
struct route_auth {
  std::optional<oauth_settings> oauth;
  bool api_keys = false;  // keys from the top-level `api_keys` allowed on this route
  std::optional<client_cert_rule> client_cert;
  // Forward the client's Authorization header upstream. Off: the gateway consumed the
  // credential and must not pass it on (the MCP spec forbids token passthrough).
  bool pass_authorization = false;
  bool enabled() const { return oauth || api_keys || client_cert; }
};

// `upstream_auth:` on a route: a credential the gateway adds on the upstream hop.
struct upstream_credential {
  std::string header = "authorization";  // lower case
  std::string value;   // secret: never logged
  std::string source;  // "file /run/secrets/x", "env UPSTREAM_TOKEN": what logs and the summary say
};

// One API key (`api_keys:`): only a SHA-256 of the key is configured.
struct api_key {
  std::string name;
  std::array<std::uint8_t, 32> sha256{};
  std::vector<std::string> routes;  // route names it may use; empty: every route with `auth: { api_keys: true }`
  // Tools it may call and see (allow globs; where = "api_keys[i].tools"); empty: every tool.
  // Applies on top of the route's own tools rule.
  name_rule tools;
};

struct route_timeouts {
  duration connect = 10s;            // resolve + TCP (+ TLS) to the upstream
  duration response_header = 300s;   // request fully sent -> response header complete
  duration stream_idle = 0ms;        // max silence inside a response body; 0 = none (SSE)
};

struct route {
  std::string name;       // "echo", or "*[1]" for the second entry of a list
  std::string host_key;   // routes map key: exact host, bare subdomain, or "*"
  std::string path = "/"; // prefix, matched at '/' boundaries ("/mcp" matches "/mcp/x", not "/mcpx")
  upstream_target upstream;  // the only instance, or the first of `upstreams`
  // `upstreams: [...]` (two or more; empty otherwise). New MCP sessions go to the least busy
  // healthy one, and the session ids clients see name the instance (authenticated, see
  // `session_affinity`) so each session's requests reach it.
  std::vector<upstream_target> instances;
  health_check health;
  std::optional<stdio_server> stdio;  // set when upstream.scheme is "stdio"
  // Where requests may go: the `upstreams` list, or `upstream` alone.
  std::span<const upstream_target> targets() const {
    if (instances.empty()) return {&upstream, 1};
    return instances;
  }
  bool any_tls() const {
    return std::any_of(targets().begin(), targets().end(), [](const upstream_target& t) { return t.tls(); });
  }
  route_timeouts timeouts;
  bool preserve_host = false;  // forward the client's Host instead of the upstream authority
  // Forward the request-target without `path` ("/everything/mcp" -> "/mcp", "/everything"
  // -> "/"; the query stays), and rewrite the legacy SSE transport's `endpoint` events so
  // that clients post back through the prefix. With path "/" it changes nothing.
  bool strip_path = false;
  access_rule access;
  // Browser origins allowed to call this route ("https://app.example.com", lower case):
  // a request with any other Origin gets 403 (MCP's DNS-rebinding rule). Empty: no check.
  std::vector<std::string> allowed_origins;
  std::vector<rate_limit> rate_limits;  // every one must admit a request
  route_limits limits;
  // The upstream speaks MCP: replies the gateway makes itself (403, 413, 429, 502, ...)
  // carry a JSON-RPC error body that MCP clients can show.
  bool mcp = true;
  mcp_policy policy;  // tools / prompts / resources
  route_auth auth;
  std::optional<upstream_credential> upstream_auth;
  // Some rule decides on what the JSON-RPC body says (tools / prompts / resources rules, a
  // rate limit keyed by tool or method): bodies that cannot be read as JSON-RPC are then
  // refused rather than passed on unjudged.
  bool judges_mcp_body() const {
    for (const auto& limit : rate_limits) {
      for (const auto part : limit.key) {
        if (part == rate_limit::key_part::tool || part == rate_limit::key_part::mcp_method) return true;
      }
    }
    return !policy.empty();
  }
};

struct upstream_settings {
  // Resolved addresses of every upstream must fall inside these (SSRF defence).
  // Default RFC 1918; setting the key replaces the default.
  std::vector<net::ip_prefix> allowed_ips = net::rfc1918_prefixes();
  bool allowed_ips_set = false;        // the key was written (for the summary and warnings)
  bool disable_ip_validation = false;  // mutually exclusive with allowed_ips
  std::string ca_file;                 // trust anchors for https:// upstreams
  bool include_system_cas = false;
};

// Bounds on what one downstream client may make the gateway hold or wait for.
struct limits {
  std::uint32_t max_request_header_bytes = 16 * 1024;
  std::uint64_t max_request_body_bytes = 16 * 1024 * 1024;
  std::uint32_t max_response_header_bytes = 64 * 1024;
  duration request_header_timeout = 10s;  // first byte to end of header (slowloris)
  duration request_body_timeout = 60s;    // max silence while reading a request body
  duration keepalive_timeout = 60s;       // idle client connection between exchanges
};

// The audit log (`audit:`): one line per JSON-RPC request through an MCP route.
struct audit_settings {
  bool enabled = false;  // writing `audit:` enables it
  std::string file;      // "" or "-": stdout; else appended to, reopened on SIGHUP
  bool log_arguments = false;  // the arguments of calls, redacted and capped
  std::uint32_t max_argument_bytes = 4096;
  // Values under keys containing one of these (case-insensitive) are written as "[redacted]".
  std::vector<std::string> redact{"password", "passwd", "secret", "token", "api_key", "apikey",
                                  "authorization", "cookie", "credential", "private_key"};
};

// How session ids of routes with several upstreams are authenticated (`session_affinity:`).
struct session_affinity {
  // A file with at least 32 bytes of secret (e.g. `openssl rand -hex 32`), the same on every
  // replica so any of them can route any session. Unset: a key made at start, good for
  // this process (and its reloads) only.
  std::string key_file;
};

// `admin:`: a listener of its own for operators and monitoring: /healthz, /readyz,
// /metrics (Prometheus), /status (HTML) and /status.json. Off unless configured.
struct admin_settings {
  bool enabled = false;
  listener listen = loopback_admin();
  // Clients allowed to ask (the socket peer; no proxy is believed here). Empty: any peer,
  // which the loader allows only on a loopback address.
  std::vector<net::ip_prefix> allow;
  // SHA-256 of the bearer key every request must carry (`mcpgate api-key hash`); unset: none.
  std::optional<std::array<std::uint8_t, 32>> key_sha256;
  // Per-worker counters on the data path. Off: /metrics serves only what needs no
  // counting (config, certificates, health), the status page shows no traffic.
  bool metrics = true;

  static listener loopback_admin() {
    listener l;
    l.address = "127.0.0.1:9901";
    l.bind_host = "127.0.0.1";
    l.port = 9901;
    return l;
  }
};

// `tunnel:`: the gateway dials out to a self-hosted edge (mcpgate edge) and serves the
// streams it carries, as `mcpgate connect` does in a process of its own.
struct tunnel_connector {
  bool enabled = false;
  std::string edge;         // host:port of the edge's connector listener
  std::string token_file;   // read on every dial: a rotated token only needs the file replaced
  std::string edge_ca;      // CA for the edge's certificate; "" = the system's
  std::string server_name;  // name on the edge's certificate; "" = the host of `edge`
  unsigned connections = 4;
  // Which listener the streams reach: its address (as configured). "" = the first ws
  // listener, else the first tls listener (the edge passes TLS through; the gateway must
  // terminate it, so never a plain one).
  std::string listener;
  bool operator==(const tunnel_connector&) const = default;
};

struct config {
  std::string source;        // file the config came from ("" for strings in tests)
  std::string sha256;        // of the text it was read from (hex): which config is running
  std::string listen_addr;   // Anthropic key, kept as written
  std::vector<listener> listeners;  // listen_addr (as a ws listener) + `listeners:` entries
  log_level level = log_level::info;
  log_settings logs;
  duration shutdown_timeout = 30s;
  std::string tunnel_domain;  // lower case, no leading/trailing dot
  tls_files tls;
  std::vector<route> routes;  // every route, in file order
  upstream_settings upstream;
  struct limits limits;
  // Peers whose report of the client address is believed. Unset: loopback, and only for
  // ws listeners (cloudflared shares the gateway's network namespace in the documented
  // deployments). Set: these peers, on every listener (X-Forwarded-For from a reverse
  // proxy in front of plain / tls listeners).
  std::vector<net::ip_prefix> trusted_proxies = net::loopback_prefixes();
  bool trusted_proxies_set = false;
  std::vector<named_ip_set> ip_sets;  // in file order
  audit_settings audit;
  struct session_affinity session_affinity;
  tunnel_connector tunnel;
  std::vector<api_key> api_keys;
  admin_settings admin;
  unsigned workers = 0;       // 0 = one per core
  // Whether the data path counts for /metrics and the status page.
  bool counting() const { return admin.enabled && admin.metrics; }
};

// ":PORT": every interface, IPv4 and IPv6.
inline listener all_interfaces(std::uint16_t port) {
  listener l;
  l.address = ":" + std::to_string(port);
  l.port = port;
  return l;
}

// `mcpgate edge --config edge.yaml`: the public side of a self-hosted tunnel.
struct edge_config {
  std::string source;
  std::string sha256;  // of the text it was read from (hex)
  // Only address, bind_host and port apply: the edge's listeners have no modes or rules.
  listener listen = all_interfaces(443);             // public clients (TLS passed through, never terminated)
  listener connector_listen = all_interfaces(7844);  // connectors (TLS 1.3 with the edge's own certificate)
  tls_files tls;                          // the edge's certificate for connectors
  std::string base_domain;                // tunnels get <id>.<base_domain>
  std::string registry = "/var/lib/mcpgate/edge.db";
  log_level level = log_level::info;
  duration shutdown_timeout = 30s;
  duration client_hello_timeout = 10s;     // a client must send its whole ClientHello within this
  std::uint64_t max_client_hello_bytes = 16 * 1024;
  // Public clients allowed to reach any tunnel; empty: everyone.
  std::vector<net::ip_prefix> allowed_client_ips;
  // Connector connections: flow control and keepalive (the connector's own settings govern
  // what it receives; these govern what the edge receives).
  std::uint64_t stream_window = 4u << 20;
  std::uint64_t connection_window = 64u << 20;
  duration ping_interval = 15s;
  unsigned ping_misses = 2;
  duration connector_handshake_timeout = 10s;
  unsigned stream_open_attempts = 3;  // connections tried for one client before it is closed
  admin_settings admin;
};

const char* to_string(log_level level);
const char* to_string(log_format format);
const char* to_string(listener_mode mode);
const char* to_string(rate_limit::key_part part);

}  // namespace mcpgate::config
