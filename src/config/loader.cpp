// The config loader: YAML text -> diagnostics + (when there is no error) a config snapshot.
//
// The walk is driven by the schema, not by the document: each section reads only the keys
// it knows and reports the others, so a hostile or cyclic document (aliases) can never make
// the walk deeper than the schema. Every problem becomes a diagnostic and the walk goes on,
// so one `mcpgate validate` run shows all of them.
#include "config/loader.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

#include "auth/api_key.hpp"
#include "config/command_line.hpp"
#include "pki/files.hpp"
#include "config/units.hpp"

namespace mcpgate::config {

std::string diagnostic::to_string() const {
  std::string out = file.empty() ? "<config>" : file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += level == severity::error ? ": error: " : ": warning: ";
  if (!key_path.empty()) out += key_path + ": ";
  out += message;
  return out;
}

std::size_t load_result::error_count() const {
  return static_cast<std::size_t>(std::count_if(diagnostics.begin(), diagnostics.end(), [](const diagnostic& d) {
    return d.level == diagnostic::severity::error;
  }));
}

namespace {

using key_list = std::initializer_list<std::string_view>;

// Bigger than any sane config; keeps a mistaken path (a log file, /dev/zero) from eating memory.
constexpr std::uintmax_t max_file_bytes = 4 * 1024 * 1024;

const key_list top_keys{"listen_addr", "log_level", "log_format", "log_file", "access_log_file",
                        "shutdown_timeout", "tunnel_domain", "tls", "routes", "upstream", "listeners", "limits",
                        "workers", "trusted_proxies", "ip_sets", "audit", "session_affinity", "tunnel", "api_keys",
                        "admin"};
const key_list admin_keys{"listen", "allow", "key_sha256", "metrics"};
const key_list session_affinity_keys{"key_file"};
const key_list tunnel_keys{"edge", "token_file", "edge_ca", "server_name", "connections", "listener"};
const key_list edge_keys{"listen", "connector_listen", "tls", "base_domain", "registry", "log_level",
                         "shutdown_timeout", "client_hello_timeout", "max_client_hello_bytes",
                         "allowed_client_ips", "connectors", "admin"};
const key_list edge_connector_keys{"stream_window", "connection_window", "ping_interval", "ping_misses",
                                   "handshake_timeout", "stream_open_attempts"};
const key_list health_check_keys{"path", "interval", "timeout", "unhealthy_after", "healthy_after"};
const key_list audit_keys{"file", "log_arguments", "max_argument_bytes", "redact"};
const key_list tls_keys{"cert_file", "key_file", "poll_interval"};
const key_list listener_tls_keys{"cert_file", "key_file", "poll_interval", "client_ca_file", "client_auth"};
const key_list listener_keys{"address", "mode", "tls", "allow", "deny", "dry_run", "proxy_protocol",
                             "max_connections", "max_connections_per_client"};
const key_list route_keys{"path", "upstream", "connect_timeout", "response_header_timeout",
                          "stream_idle_timeout", "preserve_host", "allow", "deny", "action", "dry_run",
                          "allowed_origins", "rate_limit", "limits", "mcp", "tools", "prompts", "resources",
                          "strip_path", "upstreams", "health_check", "auth", "upstream_auth"};
const key_list name_rule_keys{"allow", "deny", "dry_run"};
const key_list name_pattern_keys{"name", "scope", "subject", "client_id", "key", "client_cert"};
const key_list route_auth_keys{"oauth", "api_keys", "client_cert", "pass_authorization"};
const key_list oauth_keys{"issuer", "audience", "jwks_uri", "scopes", "leeway", "ca_file", "allowed_ips",
                          "refresh_interval", "resource_name", "introspection"};
const key_list introspection_keys{"endpoint", "client_id", "client_secret_file", "client_secret_env", "cache",
                                  "timeout"};
const key_list client_cert_rule_keys{"names"};
const key_list upstream_auth_keys{"header", "value_file", "value_env", "prefix"};
const key_list api_key_keys{"name", "sha256", "routes", "tools"};
const key_list rate_limit_keys{"requests", "per", "burst", "key", "ipv4_prefix", "ipv6_prefix", "max_keys", "dry_run"};
const key_list route_limits_keys{"max_request_header_bytes", "max_request_body_bytes"};
const key_list ip_set_entry_keys{"cidr", "from", "until"};
// Within this, validate warns that an ip_sets entry is about to stop matching.
constexpr auto expiry_warning_window = std::chrono::hours(24 * 30);
const key_list stdio_keys{"command", "args", "env", "pass_env", "cwd", "user", "shell", "shared",
                          "max_processes", "idle_timeout", "start_timeout", "max_message_bytes"};
const key_list upstream_keys{"allowed_ips", "disable_ip_validation", "tls"};
const key_list upstream_tls_keys{"ca_file", "include_system_cas"};
const key_list limits_keys{"max_request_header_bytes", "max_request_body_bytes", "max_response_header_bytes",
                           "request_header_timeout", "request_body_timeout", "keepalive_timeout"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A value as it appears in a message: quoted, control bytes escaped, long values cut.
std::string quote(std::string_view s) {
  constexpr std::size_t max_shown = 120;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max_shown) out += "...";
  return out + "\"";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Scalar: return quote(node.Scalar());
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// DNS name (or bare subdomain) in lower case: letters, digits, '-', '_', dot-separated
// non-empty labels. '_' is allowed because internal service names use it.
bool valid_hostname(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label != 0;
}

bool looks_like_ipv4(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

bool valid_ipv4(const std::string& s) {
  in_addr out{};
  return inet_pton(AF_INET, s.c_str(), &out) == 1;
}

bool valid_ipv6(const std::string& s) {
  in6_addr out{};
  return inet_pton(AF_INET6, s.c_str(), &out) == 1;
}

std::optional<std::uint16_t> parse_port(std::string_view s, bool allow_zero) {
  if (!is_digits(s) || s.size() > 5) return std::nullopt;
  const unsigned long value = std::stoul(std::string(s));
  if (value > 65535 || (value == 0 && !allow_zero)) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

struct host_port {
  std::string host;  // "" = all interfaces; IPv6 without brackets
  std::uint16_t port = 0;
};

// Go's net.Listen syntax: ":8080", "0.0.0.0:8080", "localhost:80", "[::1]:8080".
std::optional<host_port> parse_listen_address(std::string_view text, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<host_port> {
    *why = std::move(reason);
    return std::nullopt;
  };
  if (text.empty()) return fail("empty address (expected host:port, e.g. \":8080\" or \"127.0.0.1:8080\")");
  host_port out;
  std::string_view port;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after the IPv6 address");
    out.host = lower(text.substr(1, close - 1));
    if (!valid_ipv6(out.host)) return fail("invalid IPv6 address " + quote(out.host));
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("missing :port after ']'");
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("missing :port (expected host:port, e.g. \":8080\" or \"127.0.0.1:8080\")");
    out.host = lower(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) return fail("IPv6 addresses must be in brackets, e.g. \"[::1]:8080\"");
    if (!out.host.empty()) {
      if (looks_like_ipv4(out.host)) {
        if (!valid_ipv4(out.host)) return fail("invalid IPv4 address " + quote(out.host));
      } else if (!valid_hostname(out.host)) {
        return fail("invalid host " + quote(out.host));
      }
    }
    port = text.substr(colon + 1);
  }
  const auto number = parse_port(port, true);
  if (!number) return fail("invalid port " + quote(port) + " (expected 0..65535)");
  out.port = *number;
  return out;
}

// Anthropic's upstream form: exactly scheme://host:port.
std::optional<upstream_target> parse_upstream(std::string_view text, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<upstream_target> {
    *why = std::move(reason);
    return std::nullopt;
  };
  const auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return fail("not an absolute URL");
  const boost::urls::url_view url = *parsed;
  upstream_target out;
  out.scheme = lower(url.scheme());
  if (out.scheme != "http" && out.scheme != "https") return fail("the scheme must be http or https");
  if (!url.has_authority()) return fail("missing //host:port");
  if (url.has_userinfo()) return fail("user info is not allowed");
  switch (url.host_type()) {
    case boost::urls::host_type::ipv4: out.host = url.host_ipv4_address().to_string(); break;
    case boost::urls::host_type::ipv6: out.host = url.host_ipv6_address().to_string(); break;
    case boost::urls::host_type::name: {
      const auto host = url.encoded_host();
      out.host = lower(std::string_view(host.data(), host.size()));
      if (out.host.empty()) return fail("missing host");
      if (looks_like_ipv4(out.host)) return fail("invalid IPv4 address " + quote(out.host));
      if (!valid_hostname(out.host)) return fail("invalid host name " + quote(out.host));
      break;
    }
    default: return fail("missing host");
  }
  if (!url.has_port() || url.port().empty()) return fail("missing port (the port is mandatory)");
  const auto port = parse_port(url.port(), false);
  if (!port) return fail("invalid port " + quote(url.port()) + " (expected 1..65535)");
  out.port = *port;
  if (!url.encoded_path().empty()) return fail("a path is not allowed (route by path with a route object's path: key)");
  if (url.has_query()) return fail("a query is not allowed");
  if (url.has_fragment()) return fail("a fragment is not allowed");
  return out;
}

struct place {
  int line = 0;    // 1-based, 0 = none
  int column = 0;  // 1-based
};

place place_of(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

place place_of(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  return place_of(node.Mark());
}

// Sees only where documents start; the tree is built by YAML::Load afterwards.
class document_counter : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;

  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

struct entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

struct listener_source {
  std::string path;  // "listen_addr", "listeners[1]"
  place at;
};

class loader {
 public:
  loader(std::string file, const overrides& over) : file_(std::move(file)), over_(over) { cfg_.source = file_; }

  load_result run(std::string_view text) {
    cfg_.sha256 = auth::to_hex(auth::sha256_of(text));
    try {
      walk(text);
    } catch (const std::exception& e) {
      // Nothing in the walk is expected to throw; if yaml-cpp does, it is still a diagnostic.
      add(diagnostic::severity::error, {}, "", std::string("internal error while reading the config: ") + e.what());
    } catch (...) {
      add(diagnostic::severity::error, {}, "", "internal error while reading the config");
    }
    return finish();
  }

  void add(diagnostic::severity level, place at, std::string path, std::string message) {
    diagnostic d;
    d.level = level;
    d.file = file_;
    d.line = at.line;
    d.column = at.column;
    d.key_path = std::move(path);
    d.message = std::move(message);
    diags_.push_back(std::move(d));
  }

  load_result finish() {
    // File order reads best; problems with no single place (a missing key) go last.
    std::stable_sort(diags_.begin(), diags_.end(), [](const diagnostic& a, const diagnostic& b) {
      const bool a_none = a.line == 0;
      const bool b_none = b.line == 0;
      if (a_none != b_none) return b_none;
      if (a.line != b.line) return a.line < b.line;
      return a.column < b.column;
    });
    load_result result;
    result.diagnostics = std::move(diags_);
    if (result.error_count() == 0) result.snapshot = std::make_shared<const config>(std::move(cfg_));
    return result;
  }

 private:
  void error(const YAML::Node& at, const std::string& path, std::string message) {
    add(diagnostic::severity::error, where(at), path, std::move(message));
  }
  void warning(const YAML::Node& at, const std::string& path, std::string message) {
    add(diagnostic::severity::warning, where(at), path, std::move(message));
  }

  // yaml-cpp marks an empty value (`key:`) at the token after it, often the next line; the
  // key is where the user has to look.
  place where(const YAML::Node& node) const {
    if (node.IsDefined() && node.IsNull()) {
      const auto found = null_values_.find(node.Mark().pos);
      if (found != null_values_.end()) return found->second;
    }
    return place_of(node);
  }

  // The document's top-level map; undefined (with the error reported) when there is none.
  std::optional<YAML::Node> parse_root(std::string_view text) {
    const std::string input(text);
    YAML::Node root;
    try {
      // Count documents before building any: yaml-cpp 0.7 returns empty documents forever,
      // without consuming input, when a stream starts with a stray ',' (found by fuzzing:
      // YAML::LoadAll then loops and eats memory). Three is enough to tell "more than one
      // document" from "stuck".
      std::istringstream stream(input);
      YAML::Parser parser(stream);
      document_counter counter;
      std::size_t documents = 0;
      while (documents < 3 && parser.HandleNextDocument(counter)) ++documents;
      const auto& starts = counter.starts;
      if (documents == 3 && starts[1].pos == starts[2].pos) {
        const auto pos = static_cast<std::size_t>(std::max(starts[2].pos, 0));
        add(diagnostic::severity::error, place_of(starts[2]), "",
            "YAML syntax error: unexpected " + (pos < input.size() ? quote(input.substr(pos, 1)) : "end of input"));
        return std::nullopt;
      }
      if (documents > 1) {
        add(diagnostic::severity::error, place_of(starts[1]), "", "a config file holds one YAML document; found more");
      }
      root = YAML::Load(input);
    } catch (const YAML::Exception& e) {
      add(diagnostic::severity::error, place_of(e.mark), "", "YAML syntax error: " + e.msg);
      return std::nullopt;
    }
    if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
      error(root, "", "expected a map of settings at the top level, got " + describe(root));
      return std::nullopt;
    }
    return root;
  }

  void walk(std::string_view text) {
    const auto root = parse_root(text);
    if (!root) return;
    if (root->IsMap()) {
      for (const entry& e : entries(*root, "", top_keys)) top_level(e);
    }
    cross_checks();
  }

  // ---- edge config (`mcpgate edge`) ---------------------------------------------------

 public:
  edge_load_result run_edge(std::string_view text) {
    edge_.source = file_;
    edge_.sha256 = auth::to_hex(auth::sha256_of(text));
    try {
      walk_edge(text);
    } catch (const std::exception& e) {
      add(diagnostic::severity::error, {}, "", std::string("internal error while reading the config: ") + e.what());
    }
    auto sorted = finish();
    edge_load_result result;
    result.diagnostics = std::move(sorted.diagnostics);
    if (sorted.ok()) result.snapshot = std::make_shared<const edge_config>(std::move(edge_));
    return result;
  }

 private:
  void walk_edge(std::string_view text) {
    const auto root = parse_root(text);
    if (!root) return;
    YAML::Node base_domain_node;
    if (root->IsMap()) {
      for (const entry& e : entries(*root, "", edge_keys)) {
        const std::string& k = e.key;
        const YAML::Node& v = e.value;
        if (k == "listen" || k == "connector_listen") {
          if (auto l = read_address(v, k)) (k == "listen" ? edge_.listen : edge_.connector_listen) = std::move(*l);
        } else if (k == "tls") {
          read_tls(v, k, edge_.tls);
        } else if (k == "base_domain") {
          base_domain_node = v;
          if (auto text = read_string(v, k)) {
            std::string why;
            auto domain = normalise_domain(*text, &why);
            if (!domain) error(v, k, why);
            else edge_.base_domain = *domain;
          }
        } else if (k == "admin") {
          admin(v, edge_.admin);
        } else if (k == "registry") {
          if (auto p = read_string(v, k)) edge_.registry = *p;
        } else if (k == "log_level") {
          if (auto level = read_log_level(v, k)) edge_.level = *level;
        } else if (k == "shutdown_timeout") {
          if (auto d = read_duration(v, k)) edge_.shutdown_timeout = *d;
        } else if (k == "client_hello_timeout") {
          if (auto d = read_positive_duration(v, k)) edge_.client_hello_timeout = *d;
        } else if (k == "max_client_hello_bytes") {
          if (auto n = read_size(v, k, 64 * 1024)) {
            if (*n < 512) error(v, k, "must be at least 512 bytes (a ClientHello is rarely under 200, often 1-2 KiB)");
            else edge_.max_client_hello_bytes = *n;
          }
        } else if (k == "allowed_client_ips") {
          if (auto prefixes = prefix_list(v, k, "[160.79.104.0/21]", "lets every client through")) {
            edge_.allowed_client_ips = std::move(*prefixes);
          }
        } else if (k == "connectors") {
          edge_connectors(v, k);
        }
      }
    }
    if (edge_.base_domain.empty()) {
      error(base_domain_node, "base_domain",
            "base_domain is required: tunnels are named <id>.<base_domain> (e.g. tunnels.example.com, whose "
            "wildcard DNS record points at this edge)");
    }
    if (edge_.tls.empty()) {
      add(diagnostic::severity::error, {}, "tls",
          "tls.cert_file and tls.key_file are required: connectors check the edge's certificate before they "
          "send their token");
    }
  }

  void edge_connectors(const YAML::Node& node, const std::string& path) {
    if (!expect_map(node, path)) return;
    for (const entry& e : entries(node, path, edge_connector_keys)) {
      const std::string p = join(path, e.key);
      if (e.key == "stream_window") {
        if (auto n = read_size(e.value, p, 1u << 30)) {
          if (*n < 65535) error(e.value, p, "must be at least 64KiB");
          else edge_.stream_window = *n;
        }
      } else if (e.key == "connection_window") {
        if (auto n = read_size(e.value, p, (1u << 31) - 1)) {
          if (*n < 65535) error(e.value, p, "must be at least 64KiB");
          else edge_.connection_window = *n;
        }
      } else if (e.key == "ping_interval") {
        if (auto d = read_positive_duration(e.value, p)) edge_.ping_interval = *d;
      } else if (e.key == "ping_misses") {
        if (auto n = read_unsigned(e.value, p, 1, 10)) edge_.ping_misses = static_cast<unsigned>(*n);
      } else if (e.key == "handshake_timeout") {
        if (auto d = read_positive_duration(e.value, p)) edge_.connector_handshake_timeout = *d;
      } else if (e.key == "stream_open_attempts") {
        if (auto n = read_unsigned(e.value, p, 1, 16)) edge_.stream_open_attempts = static_cast<unsigned>(*n);
      }
    }
  }

  void top_level(const entry& e) {
    const std::string& k = e.key;
    const YAML::Node& v = e.value;
    if (k == "listen_addr") {
      listen_addr(v);
    } else if (k == "log_level") {
      if (auto level = read_log_level(v, k)) cfg_.level = *level;
    } else if (k == "log_format") {
      if (auto format = read_log_format(v, k)) cfg_.logs.format = *format;
    } else if (k == "log_file" || k == "access_log_file") {
      if (auto file = read_string(v, k)) {
        if (file->empty()) {
          std::string why = "expected a file path, or \"-\" for ";
          why.append(k == "log_file" ? "stderr" : "stdout");
          error(v, k, why);
        } else {
          (k == "log_file" ? cfg_.logs.file : cfg_.logs.access_file) = *file;
        }
      }
    } else if (k == "shutdown_timeout") {
      if (auto d = read_duration(v, k)) cfg_.shutdown_timeout = *d;
    } else if (k == "tunnel_domain") {
      if (auto s = read_string(v, k)) {
        std::string why;
        if (auto domain = normalise_domain(*s, &why)) cfg_.tunnel_domain = *domain;
        else error(v, k, why);
      }
    } else if (k == "tls") {
      read_tls(v, k, cfg_.tls, true);
    } else if (k == "routes") {
      routes(v);
    } else if (k == "upstream") {
      upstream(v);
    } else if (k == "listeners") {
      listeners(v);
    } else if (k == "limits") {
      limits(v);
    } else if (k == "workers") {
      if (auto n = read_unsigned(v, k, 0, 256)) cfg_.workers = static_cast<unsigned>(*n);
    } else if (k == "ip_sets") {
      ip_sets(v);
    } else if (k == "audit") {
      audit(v);
    } else if (k == "tunnel") {
      tunnel(v);
    } else if (k == "api_keys") {
      api_keys(v);
    } else if (k == "admin") {
      admin(v, cfg_.admin);
    } else if (k == "session_affinity") {
      if (expect_map(v, k)) {
        for (const entry& a : entries(v, k, session_affinity_keys)) {
          if (auto f = read_string(a.value, join(k, a.key))) cfg_.session_affinity.key_file = *f;
        }
      }
    } else if (k == "trusted_proxies") {
      if (auto prefixes = prefix_list(v, k, "[127.0.0.1, 10.0.0.0/8]",
                                      "trusts every peer: any client can then claim any address")) {
        cfg_.trusted_proxies = std::move(*prefixes);
        cfg_.trusted_proxies_set = true;
      }
    }
  }

  // ---- generic readers --------------------------------------------------------------

  // The entries of a map in file order; unknown, duplicate and non-string keys are
  // reported and left out. An empty `allowed` accepts any key (routes).
  std::vector<entry> entries(const YAML::Node& map, const std::string& path, key_list allowed) {
    std::vector<entry> out;
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key_node = it->first;
      const YAML::Node value = it->second;
      if (!key_node.IsScalar()) {
        error(key_node, path, "expected a string key, got " + describe(key_node));
        continue;
      }
      const std::string key = key_node.Scalar();
      const std::string key_path = join(path, key);
      if (allowed.size() != 0 && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(key_node, key_path, unknown_key_message(key, allowed));
        continue;
      }
      if (!seen.insert(key).second) {
        error(key_node, key_path, "duplicate key " + quote(key));
        continue;
      }
      if (value.IsNull() && !value.Mark().is_null()) null_values_.emplace(value.Mark().pos, place_of(key_node));
      out.push_back({key, key_node, value});
    }
    return out;
  }

  static std::string unknown_key_message(const std::string& key, key_list allowed) {
    std::string list;
    std::string_view best;
    std::size_t best_distance = 3;  // suggest only close misspellings
    for (std::string_view a : allowed) {
      if (!list.empty()) list += ", ";
      list += a;
      const std::size_t d = edit_distance(lower(key), a);
      if (d < best_distance) {
        best_distance = d;
        best = a;
      }
    }
    std::string message = "unknown key " + quote(key);
    if (!best.empty()) message += " (did you mean \"" + std::string(best) + "\"?)";
    return message + "; allowed keys: " + list;
  }

  bool expect_map(const YAML::Node& node, const std::string& path) {
    if (node.IsMap()) return true;
    error(node, path, "expected a map, got " + describe(node));
    return false;
  }

  std::optional<log_level> read_log_level(const YAML::Node& node, const std::string& path) {
    auto s = read_string(node, path);
    if (!s) return std::nullopt;
    if (*s == "debug") return log_level::debug;
    if (*s == "info") return log_level::info;
    if (*s == "warn") return log_level::warn;
    if (*s == "error") return log_level::error;
    error(node, path, "invalid log level " + quote(*s) + " (expected one of: debug, info, warn, error)");
    return std::nullopt;
  }

  std::optional<log_format> read_log_format(const YAML::Node& node, const std::string& path) {
    auto s = read_string(node, path);
    if (!s) return std::nullopt;
    if (*s == "text") return log_format::text;
    if (*s == "json") return log_format::json;
    error(node, path, "invalid log format " + quote(*s) + " (expected one of: text, json)");
    return std::nullopt;
  }

  std::optional<std::string> read_string(const YAML::Node& node, const std::string& path) {
    if (node.IsScalar()) return node.Scalar();
    error(node, path, "expected a string, got " + describe(node));
    return std::nullopt;
  }

  std::optional<bool> read_bool(const YAML::Node& node, const std::string& path) {
    if (node.IsScalar()) {
      const std::string& s = node.Scalar();
      const bool plain = node.Tag() == "?";
      if (plain && (s == "true" || s == "True" || s == "TRUE")) return true;
      if (plain && (s == "false" || s == "False" || s == "FALSE")) return false;
      const std::string word = lower(s);
      if (plain && (word == "yes" || word == "no" || word == "on" || word == "off" || word == "y" || word == "n")) {
        error(node, path,
              "expected a bool (true or false), got " + quote(s) +
                  ": YAML 1.1 words like yes/no/on/off are not booleans here; write true or false");
        return std::nullopt;
      }
      if (!plain && (word == "true" || word == "false")) {
        error(node, path, "expected a bool (true or false), got the quoted string " + quote(s) + "; drop the quotes");
        return std::nullopt;
      }
    }
    error(node, path, "expected a bool (true or false), got " + describe(node));
    return std::nullopt;
  }

  std::optional<duration> read_duration(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
      error(node, path, "expected a duration (e.g. 30s, 1m30s, 500ms), got " + describe(node));
      return std::nullopt;
    }
    std::string why;
    auto d = parse_duration(node.Scalar(), &why);
    if (!d) {
      // The reason already lists the units when one was wrong; otherwise show the syntax.
      if (why.find('(') == std::string::npos) why += " (e.g. 30s, 1m30s, 500ms)";
      error(node, path, "invalid duration " + quote(node.Scalar()) + ": " + why);
    }
    return d;
  }

  // A duration that must not be 0 (an interval, a timeout that must be able to end).
  std::optional<duration> read_positive_duration(const YAML::Node& node, const std::string& path) {
    auto d = read_duration(node, path);
    if (d && d->count() <= 0) {
      error(node, path, "must be greater than 0");
      d.reset();
    }
    return d;
  }

  std::optional<std::uint64_t> read_size(const YAML::Node& node, const std::string& path, std::uint64_t max) {
    if (!node.IsScalar()) {
      error(node, path, "expected a size (e.g. 16KiB, 4MiB, 1048576), got " + describe(node));
      return std::nullopt;
    }
    std::string why;
    auto bytes = parse_size(node.Scalar(), &why);
    if (!bytes) {
      error(node, path, "invalid size " + quote(node.Scalar()) + ": " + why);
      return std::nullopt;
    }
    if (*bytes > max) {
      error(node, path, "size " + quote(node.Scalar()) + " is too large (at most " + format_size(max) + ")");
      return std::nullopt;
    }
    return bytes;
  }

  std::optional<std::uint64_t> read_unsigned(const YAML::Node& node, const std::string& path, std::uint64_t lo,
                                             std::uint64_t hi) {
    const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
    if (node.IsScalar() && is_digits(node.Scalar()) && node.Scalar().size() <= 18) {
      const std::uint64_t n = std::stoull(node.Scalar());
      if (n >= lo && n <= hi) return n;
      error(node, path, "expected an integer " + range + ", got " + quote(node.Scalar()));
      return std::nullopt;
    }
    error(node, path, "expected an integer " + range + ", got " + describe(node));
    return std::nullopt;
  }

  // cert_file + key_file, both or neither. An empty string counts as not set.
  // `client_certs`: the gateway's listeners may verify client certificates (mTLS); the
  // edge never terminates client TLS, so its tls: has no such keys.
  void read_tls(const YAML::Node& node, const std::string& path, tls_files& out, bool client_certs = false) {
    if (!expect_map(node, path)) return;
    YAML::Node cert;
    YAML::Node key;
    std::optional<YAML::Node> client_auth;
    for (const entry& e : entries(node, path, client_certs ? listener_tls_keys : tls_keys)) {
      const std::string key_path = join(path, e.key);
      if (e.key == "poll_interval") {
        if (auto d = read_duration(e.value, key_path)) out.poll_interval = *d;
        continue;
      }
      auto s = read_string(e.value, key_path);
      if (!s) continue;
      if (e.key == "cert_file") {
        out.cert_file = *s;
        cert = e.value;
      } else if (e.key == "key_file") {
        out.key_file = *s;
        key = e.value;
      } else if (e.key == "client_ca_file") {
        out.client_ca_file = *s;
      } else if (e.key == "client_auth") {
        client_auth = e.value;
        if (*s == "required") out.client_cert_required = true;
        else if (*s != "optional") error(e.value, key_path, "expected optional or required, got " + quote(*s));
      }
    }
    if (!out.cert_file.empty() && out.key_file.empty()) {
      error(cert, join(path, "key_file"), path + ".cert_file is set but " + path + ".key_file is not (set both or neither)");
    } else if (out.cert_file.empty() && !out.key_file.empty()) {
      error(key, join(path, "cert_file"), path + ".key_file is set but " + path + ".cert_file is not (set both or neither)");
    }
    if (client_auth && out.client_ca_file.empty()) {
      error(*client_auth, join(path, "client_auth"),
            "client_auth needs " + path + ".client_ca_file (the CA that issued the client certificates)");
    }
  }

  static std::optional<std::string> normalise_domain(std::string_view text, std::string* why) {
    std::string domain = lower(text);
    const auto first = domain.find_first_not_of('.');
    if (first == std::string::npos) return std::string();
    domain = domain.substr(first, domain.find_last_not_of('.') - first + 1);
    if (!valid_hostname(domain)) {
      *why = "invalid tunnel domain " + quote(text) + " (expected a DNS name, e.g. abcd1234.tunnel.anthropic.com)";
      return std::nullopt;
    }
    return domain;
  }

  // ---- listeners --------------------------------------------------------------------

  std::optional<listener> read_address(const YAML::Node& node, const std::string& path) {
    auto text = read_string(node, path);
    if (!text) return std::nullopt;
    std::string why;
    auto parsed = parse_listen_address(*text, &why);
    if (!parsed) {
      error(node, path, "invalid address " + quote(*text) + ": " + why);
      return std::nullopt;
    }
    listener out;
    out.address = *text;
    out.bind_host = parsed->host;
    out.port = parsed->port;
    return out;
  }

  void listen_addr(const YAML::Node& node) {
    listen_addr_seen_ = true;
    auto l = read_address(node, "listen_addr");
    if (!l) return;
    cfg_.listen_addr = l->address;
    l->mode = listener_mode::ws;
    l->from_listen_addr = true;
    listen_addr_listener_ = std::move(*l);
    listen_addr_source_ = {"listen_addr", place_of(node)};
  }

  void listeners(const YAML::Node& node) {
    listeners_seen_ = true;
    listeners_node_ = node;
    if (!node.IsSequence()) {
      error(node, "listeners", "expected a list of listeners ({ address, mode, tls }), got " + describe(node));
      return;
    }
    std::size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      const YAML::Node item = *it;
      const std::string path = index("listeners", i);
      if (!expect_map(item, path)) continue;
      std::optional<listener> l;
      bool have_address = false;
      bool ok = true;
      listener_mode mode = listener_mode::plain;
      tls_files tls;
      access_rule rule;
      bool proxy_protocol = false;
      std::uint32_t max_connections = 0;
      std::uint32_t max_per_client = 0;
      rule.where = path;
      rule.action = access_rule::deny_action::abort;  // before TLS there is no one to answer
      for (const entry& e : entries(item, path, listener_keys)) {
        const std::string key_path = join(path, e.key);
        if (e.key == "address") {
          have_address = true;
          l = read_address(e.value, key_path);
          ok = ok && l.has_value();
        } else if (read_access_key(e, key_path, rule, false)) {
          // allow / deny / dry_run
        } else if (e.key == "proxy_protocol") {
          if (auto b = read_bool(e.value, key_path)) proxy_protocol = *b;
          else ok = false;
        } else if (e.key == "max_connections") {
          if (auto n = read_unsigned(e.value, key_path, 0, 10'000'000)) max_connections = static_cast<std::uint32_t>(*n);
          else ok = false;
        } else if (e.key == "max_connections_per_client") {
          if (auto n = read_unsigned(e.value, key_path, 0, 10'000'000)) max_per_client = static_cast<std::uint32_t>(*n);
          else ok = false;
        } else if (e.key == "mode") {
          auto s = read_string(e.value, key_path);
          if (!s) ok = false;
          else if (*s == "plain") mode = listener_mode::plain;
          else if (*s == "tls") mode = listener_mode::tls;
          else if (*s == "ws") mode = listener_mode::ws;
          else {
            error(e.value, key_path, "invalid mode " + quote(*s) + " (expected one of: plain, tls, ws)");
            ok = false;
          }
        } else {
          read_tls(e.value, key_path, tls, true);
        }
      }
      if (!have_address) {
        error(item, join(path, "address"), "missing required key \"address\" (e.g. address: \"127.0.0.1:8080\")");
        continue;
      }
      if (!ok || !l) continue;
      l->mode = mode;
      l->tls = tls;
      l->access = std::move(rule);
      l->proxy_protocol = proxy_protocol;
      l->max_connections = max_connections;
      l->max_connections_per_client = max_per_client;
      listener_entries_.push_back(std::move(*l));
      listener_entry_sources_.push_back({path, place_of(item)});
    }
  }

  // ---- routes -----------------------------------------------------------------------

  void routes(const YAML::Node& node) {
    routes_seen_ = true;
    routes_node_ = node;
    if (node.IsSequence()) {
      error(node, "routes", "routes must be a map of name: scheme://host:port, got a list");
      return;
    }
    if (node.IsNull()) return;  // same as {}: warned about in cross_checks
    if (!node.IsMap()) {
      error(node, "routes", "routes must be a map of name: scheme://host:port, got " + describe(node));
      return;
    }
    std::set<std::string> host_keys;
    for (const entry& e : entries(node, "routes", {})) {
      const std::string path = join("routes", e.key);
      const std::string host_key = lower(e.key);
      if (host_key != "*") {
        if (host_key.find('*') != std::string::npos) {
          error(e.key_node, path, "invalid route key " + quote(e.key) + ": the only wildcard is \"*\" on its own");
          continue;
        }
        if (!valid_hostname(host_key)) {
          error(e.key_node, path,
                "invalid route key " + quote(e.key) + " (expected a hostname, a bare subdomain, or \"*\")");
          continue;
        }
      }
      if (!host_keys.insert(host_key).second) {
        error(e.key_node, path, "duplicate route key " + quote(e.key) + " (route keys are case-insensitive)");
        continue;
      }
      if (host_key != "*" && host_key.find('.') == std::string::npos) bare_subdomain_keys_.push_back({path, place_of(e.key_node)});

      const YAML::Node& v = e.value;
      if (v.IsScalar()) {
        route r;
        r.name = e.key;
        r.host_key = host_key;
        if (read_upstream(v, path, r)) add_route(std::move(r), path, place_of(v));
      } else if (v.IsMap()) {
        route_object(v, path, e.key, host_key);
      } else if (v.IsSequence()) {
        if (v.size() == 0) {
          error(v, path, "empty list of routes (give at least one { path, upstream })");
          continue;
        }
        std::set<std::string> paths;
        std::size_t i = 0;
        for (auto it = v.begin(); it != v.end(); ++it, ++i) {
          const YAML::Node item = *it;
          const std::string item_path = index(path, i);
          if (!item.IsMap()) {
            error(item, item_path, "expected a route object { path, upstream }, got " + describe(item));
            continue;
          }
          route_object(item, item_path, index(e.key, i), host_key, &paths);
        }
      } else {
        error(v, path,
              "expected an upstream (scheme://host:port), a route object { path, upstream } or a list of them, got " +
                  describe(v));
      }
    }
  }

  void route_object(const YAML::Node& node, const std::string& path, std::string name, const std::string& host_key,
                    std::set<std::string>* paths = nullptr) {
    route r;
    r.name = std::move(name);
    r.host_key = host_key;
    r.access.where = path;
    bool ok = true;
    bool have_upstream = false;
    place upstream_at;
    for (const entry& e : entries(node, path, route_keys)) {
      const std::string key_path = join(path, e.key);
      const YAML::Node& v = e.value;
      if (read_access_key(e, key_path, r.access, true)) continue;
      if (e.key == "path") {
        auto p = read_route_path(v, key_path);
        if (!p) {
          ok = false;
          continue;
        }
        r.path = *p;
        if (paths && !paths->insert(r.path).second) {
          error(v, key_path, "duplicate path " + quote(r.path) + " for route key " + quote(host_key));
          ok = false;
        }
      } else if (e.key == "upstream" || e.key == "upstreams") {
        if (have_upstream) {
          error(v, key_path, "give upstream or upstreams, not both");
          ok = false;
          continue;
        }
        have_upstream = true;
        upstream_at = place_of(v);
        ok = (e.key == "upstream" ? read_upstream(v, key_path, r) : read_upstream_list(v, key_path, r)) && ok;
      } else if (e.key == "health_check") {
        ok = read_health_check(v, key_path, r.health) && ok;
      } else if (e.key == "connect_timeout") {
        if (auto d = read_duration(v, key_path)) r.timeouts.connect = *d;
        else ok = false;
      } else if (e.key == "response_header_timeout") {
        if (auto d = read_duration(v, key_path)) r.timeouts.response_header = *d;
        else ok = false;
      } else if (e.key == "stream_idle_timeout") {
        if (auto d = read_duration(v, key_path)) r.timeouts.stream_idle = *d;
        else ok = false;
      } else if (e.key == "preserve_host") {
        if (auto b = read_bool(v, key_path)) r.preserve_host = *b;
        else ok = false;
      } else if (e.key == "strip_path") {
        if (auto b = read_bool(v, key_path)) r.strip_path = *b;
        else ok = false;
      } else if (e.key == "allowed_origins") {
        ok = read_origins(v, key_path, r.allowed_origins) && ok;
      } else if (e.key == "rate_limit") {
        ok = read_rate_limits(v, key_path, r.rate_limits) && ok;
      } else if (e.key == "limits") {
        ok = read_route_limits(v, key_path, r.limits) && ok;
      } else if (e.key == "mcp") {
        if (auto b = read_bool(v, key_path)) r.mcp = *b;
        else ok = false;
      } else if (e.key == "tools") {
        ok = read_name_rule(v, key_path, r.policy.tools) && ok;
      } else if (e.key == "prompts") {
        ok = read_name_rule(v, key_path, r.policy.prompts) && ok;
      } else if (e.key == "resources") {
        ok = read_name_rule(v, key_path, r.policy.resources) && ok;
      } else if (e.key == "auth") {
        ok = read_route_auth(v, key_path, r.auth) && ok;
      } else if (e.key == "upstream_auth") {
        if (auto credential = read_upstream_auth(v, key_path)) r.upstream_auth = std::move(*credential);
        else ok = false;
      }
    }
    if (paths && r.path == "/" && !node_has_key(node, "path")) {
      // A list entry without path: is "/", which still has to be unique in the list.
      if (!paths->insert("/").second) {
        error(node, join(path, "path"), "duplicate path \"/\" for route key " + quote(host_key));
        ok = false;
      }
    }
    if (!have_upstream) {
      error(node, join(path, "upstream"), "missing required key \"upstream\" (scheme://host:port or stdio:<command>)");
      return;
    }
    if (r.health.enabled && r.stdio) {
      error(node, join(path, "health_check"), "a stdio server has no address to check (the bridge restarts it when it exits)");
      ok = false;
    }
    ok = check_route_auth(node, path, r) && ok;
    for (const auto& limit : r.rate_limits) {
      if (r.auth.enabled() || std::find(limit.key.begin(), limit.key.end(), rate_limit::key_part::caller) == limit.key.end()) {
        continue;
      }
      error(node, limit.where + ".key", "key caller needs auth: on the route (without it every caller is anonymous)");
      ok = false;
    }
    if (!r.mcp && r.judges_mcp_body()) {
      error(node, join(path, "mcp"),
            "tools / prompts / resources rules and rate-limit keys tool / mcp_method need mcp: true (the gateway "
            "must read the JSON-RPC messages to apply them)");
      ok = false;
    }
    if (ok) add_route(std::move(r), join(path, "upstream"), upstream_at);
  }

  static bool node_has_key(const YAML::Node& map, std::string_view key) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) return true;
    }
    return false;
  }

  std::optional<std::string> read_route_path(const YAML::Node& node, const std::string& path) {
    auto s = read_string(node, path);
    if (!s) return std::nullopt;
    std::string p = *s;
    if (p.empty() || p.front() != '/') {
      error(node, path, "invalid path " + quote(p) + ": must start with \"/\"");
      return std::nullopt;
    }
    for (char c : p) {
      if (c == '?' || c == '#') {
        error(node, path, "invalid path " + quote(p) + ": no query (?) or fragment (#) allowed");
        return std::nullopt;
      }
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
        error(node, path, "invalid path " + quote(p) + ": no spaces or control characters allowed");
        return std::nullopt;
      }
    }
    // "/mcp/" and "/mcp" match the same requests (prefix at '/' boundaries): one spelling.
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
  }

  // scheme://host:port, `stdio:<command line>`, or a stdio server object { command, ... }.
  bool read_upstream(const YAML::Node& node, const std::string& path, route& r) {
    constexpr std::string_view stdio_prefix = "stdio:";
    if (node.IsMap()) return read_stdio_object(node, path, r);
    if (!node.IsScalar()) {
      error(node, path, "expected an upstream (scheme://host:port or stdio:<command>), got " + describe(node));
      return false;
    }
    const std::string& text = node.Scalar();
    if (text.rfind(stdio_prefix, 0) == 0) {
      std::string why;
      auto argv = split_command_line(text.substr(stdio_prefix.size()), &why);
      if (!argv) {
        error(node, path, "invalid stdio command " + quote(text) + ": " + why);
        return false;
      }
      stdio_server server;
      server.argv = std::move(*argv);
      server.command_text = text.substr(stdio_prefix.size());
      set_stdio(r, std::move(server));
      return true;
    }
    std::string why;
    auto target = parse_upstream(text, &why);
    if (!target) {
      error(node, path,
            "invalid upstream (must be scheme://host:port or stdio:<command>), got " + quote(text) + ": " + why);
      return false;
    }
    r.upstream = std::move(*target);
    return true;
  }

  // `upstreams: [scheme://host:port, ...]`: instances of one MCP server, at least two.
  bool read_upstream_list(const YAML::Node& node, const std::string& path, route& r) {
    if (!node.IsSequence() || node.size() < 2) {
      error(node, path, "expected a list of at least two upstreams (scheme://host:port), got " + describe(node) +
                            " (one instance: use upstream)");
      return false;
    }
    bool ok = true;
    std::set<std::string> seen;
    r.instances.clear();
    each_string(node, path, [&](const std::string& text, const YAML::Node& item, const std::string& item_path) {
      std::string why;
      auto target = parse_upstream(text, &why);
      if (!target) {
        error(item, item_path, "invalid upstream (must be scheme://host:port), got " + quote(text) + ": " + why);
        ok = false;
      } else if (!seen.insert(target->to_string()).second) {
        error(item, item_path, "duplicate upstream " + quote(text));
        ok = false;
      } else {
        r.instances.push_back(std::move(*target));
      }
    });
    if (!ok || r.instances.size() != node.size()) return false;
    r.upstream = r.instances.front();
    return true;
  }

  bool read_health_check(const YAML::Node& node, const std::string& path, health_check& out) {
    out.enabled = true;
    if (!expect_map(node, path)) return false;
    bool ok = true;
    for (const entry& e : entries(node, path, health_check_keys)) {
      const std::string key_path = join(path, e.key);
      if (e.key == "path") {
        auto p = read_string(e.value, key_path);
        if (p && (p->empty() || p->front() != '/' || p->find_first_of(" \t\r\n#") != std::string::npos)) {
          error(e.value, key_path, "invalid path " + quote(*p) + ": must start with \"/\", no spaces or fragment");
          p.reset();
        }
        if (p) out.path = *p;
        else ok = false;
      } else if (e.key == "interval" || e.key == "timeout") {
        const auto d = read_positive_duration(e.value, key_path);
        if (d) (e.key == "interval" ? out.interval : out.timeout) = *d;
        else ok = false;
      } else {
        if (auto n = read_unsigned(e.value, key_path, 1, 100)) {
          (e.key == "unhealthy_after" ? out.unhealthy_after : out.healthy_after) = static_cast<std::uint32_t>(*n);
        } else {
          ok = false;
        }
      }
    }
    return ok;
  }

  static void set_stdio(route& r, stdio_server server) {
    r.upstream = upstream_target{};
    r.upstream.scheme = "stdio";
    r.upstream.stdio_command = server.command_text;
    r.stdio = std::move(server);
  }

  // `upstream: { command: npx, args: [...], env: {...}, cwd, user, shell, shared, ... }`
  bool read_stdio_object(const YAML::Node& node, const std::string& path, route& r) {
    stdio_server server;
    std::optional<std::string> command;
    std::vector<std::string> args;
    bool ok = true;
    for (const entry& e : entries(node, path, stdio_keys)) {
      const std::string key_path = join(path, e.key);
      const YAML::Node& v = e.value;
      if (e.key == "command") {
        command = read_string(v, key_path);
        if (command && command->empty()) {
          error(v, key_path, "empty command");
          command.reset();
        }
        if (!command) ok = false;
      } else if (e.key == "args" || e.key == "pass_env") {
        auto& list = e.key == "args" ? args : server.pass_env;
        list.clear();
        if (!v.IsSequence()) {
          error(v, key_path, "expected a list of strings, got " + describe(v));
          ok = false;
          continue;
        }
        each_string(v, key_path, [&](const std::string& text, const YAML::Node& item, const std::string& item_path) {
          if (text.find('\0') != std::string::npos || (e.key == "pass_env" && (text.empty() || text.find('=') != std::string::npos))) {
            error(item, item_path, "invalid " + std::string(e.key == "args" ? "argument " : "variable name ") + quote(text));
            ok = false;
            return;
          }
          list.push_back(text);
        });
      } else if (e.key == "env") {
        if (!expect_map(v, key_path)) {
          ok = false;
          continue;
        }
        for (const entry& var : entries(v, key_path, {})) {
          const std::string var_path = join(key_path, var.key);
          auto value = read_string(var.value, var_path);
          if (var.key.empty() || var.key.find('=') != std::string::npos) {
            error(var.key_node, var_path, "invalid variable name " + quote(var.key));
            ok = false;
          } else if (value) {
            server.env.emplace_back(var.key, *value);
          } else {
            ok = false;
          }
        }
      } else if (e.key == "cwd" || e.key == "user") {
        auto s = read_string(v, key_path);
        if (!s) ok = false;
        else (e.key == "cwd" ? server.cwd : server.user) = *s;
      } else if (e.key == "shell" || e.key == "shared") {
        if (auto b = read_bool(v, key_path)) (e.key == "shell" ? server.shell : server.shared) = *b;
        else ok = false;
      } else if (e.key == "max_processes") {
        if (auto n = read_unsigned(v, key_path, 1, 10'000)) server.max_processes = static_cast<std::uint32_t>(*n);
        else ok = false;
      } else if (e.key == "idle_timeout" || e.key == "start_timeout") {
        const auto d = read_positive_duration(v, key_path);
        if (d) (e.key == "idle_timeout" ? server.idle_timeout : server.start_timeout) = *d;
        else ok = false;
      } else if (e.key == "max_message_bytes") {
        if (auto n = read_size(v, key_path, std::uint64_t{1} << 30)) server.max_message_bytes = *n;
        else ok = false;
      }
    }
    if (!node_has_key(node, "command")) {
      error(node, join(path, "command"), "missing required key \"command\" (the program to start, e.g. npx)");
      return false;
    }
    if (!ok || !command) return false;
    server.command_text = *command;
    for (const auto& a : args) server.command_text += " " + a;
    if (server.shell) {
      server.argv = {"/bin/sh", "-c", *command, "sh"};
    } else {
      server.argv = {*command};
    }
    server.argv.insert(server.argv.end(), args.begin(), args.end());
    set_stdio(r, std::move(server));
    return true;
  }

  void add_route(route r, std::string upstream_path, place upstream_at) {
    cfg_.routes.push_back(std::move(r));
    route_sources_.push_back({std::move(upstream_path), upstream_at});
  }

  // ---- ip_sets and access rules ----------------------------------------------------

  void ip_sets(const YAML::Node& node) {
    if (!expect_map(node, "ip_sets")) return;
    for (const entry& e : entries(node, "ip_sets", {})) {
      const std::string path = join("ip_sets", e.key);
      if (!valid_set_name(e.key)) {
        error(e.key_node, path,
              "invalid set name " + quote(e.key) + " (letters, digits, '_', '-', '.', starting with a letter)");
        continue;
      }
      if (!e.value.IsSequence()) {
        error(e.value, path, "expected a list of addresses or { cidr, from, until } entries, got " + describe(e.value));
        continue;
      }
      named_ip_set set{e.key, {}};
      std::size_t i = 0;
      for (auto it = e.value.begin(); it != e.value.end(); ++it, ++i) {
        const YAML::Node item = *it;
        if (auto entry = read_ip_set_entry(item, index(path, i))) {
          set.entries.push_back(std::move(*entry));
          ip_set_entry_places_[index(path, i)] = place_of(item);
        }
      }
      cfg_.ip_sets.push_back(std::move(set));
    }
  }

  std::optional<net::ip_set_entry> read_ip_set_entry(const YAML::Node& item, const std::string& path) {
    auto prefix_of = [&](const YAML::Node& n, const std::string& p) -> std::optional<net::ip_prefix> {
      auto text = read_string(n, p);
      if (!text) return std::nullopt;
      std::string why;
      auto prefix = net::ip_prefix::parse(*text, &why);
      if (!prefix) error(n, p, "invalid IP prefix " + quote(*text) + ": " + why);
      return prefix;
    };
    if (!item.IsMap()) {
      auto prefix = prefix_of(item, path);
      if (!prefix) return std::nullopt;
      return net::ip_set_entry{*prefix, {}, path};
    }
    std::optional<net::ip_prefix> prefix;
    net::time_window window;
    bool ok = true;
    YAML::Node until_node;
    for (const entry& e : entries(item, path, ip_set_entry_keys)) {
      const std::string key_path = join(path, e.key);
      if (e.key == "cidr") {
        prefix = prefix_of(e.value, key_path);
        ok = ok && prefix.has_value();
        continue;
      }
      auto text = read_string(e.value, key_path);
      std::string why;
      auto t = text ? parse_timestamp(*text, &why) : std::nullopt;
      if (!t) {
        if (text) error(e.value, key_path, "invalid time " + quote(*text) + ": " + why);
        ok = false;
        continue;
      }
      if (e.key == "from") {
        window.from = t;
      } else {
        window.until = t;
        until_node = e.value;
      }
    }
    if (!node_has_key(item, "cidr")) {
      error(item, join(path, "cidr"), "missing required key \"cidr\" (e.g. { cidr: 34.162.46.92/32, until: 2026-04-01 })");
      return std::nullopt;
    }
    if (ok && window.from && window.until && *window.until <= *window.from) {
      error(until_node, join(path, "until"), "until (" + format_timestamp(*window.until) +
                                                 ") is not after from (" + format_timestamp(*window.from) + ")");
      ok = false;
    }
    if (!ok || !prefix) return std::nullopt;
    return net::ip_set_entry{*prefix, window, path};
  }

  static bool valid_set_name(std::string_view name) {
    if (name.empty() || !std::isalpha(static_cast<unsigned char>(name.front()))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
  }

  // allow / deny / action / dry_run of a listener or route; false for any other key.
  bool read_access_key(const entry& e, const std::string& path, access_rule& rule, bool route_level) {
    if (e.key == "allow" || e.key == "deny") {
      read_rule_list(e.value, path, e.key == "allow" ? rule.allow : rule.deny);
      return true;
    }
    if (e.key == "dry_run") {
      if (auto b = read_bool(e.value, path)) rule.dry_run = *b;
      return true;
    }
    if (e.key == "action" && route_level) {
      if (auto s = read_string(e.value, path)) {
        if (*s == "abort") rule.action = access_rule::deny_action::abort;
        else if (*s == "403") rule.action = access_rule::deny_action::forbidden;
        else error(e.value, path, "invalid action " + quote(*s) + " (expected abort or 403)");
      }
      return true;
    }
    return false;
  }

  // A list of ip_sets names and literal prefixes; names are resolved in cross_checks.
  void read_rule_list(const YAML::Node& node, const std::string& path, std::vector<access_rule::reference>& out) {
    if (!node.IsSequence()) {
      error(node, path, "expected a list of ip_sets names or IP prefixes (e.g. [claude, 10.0.0.0/8]), got " + describe(node));
      return;
    }
    each_string(node, path, [&](const std::string& text, const YAML::Node& item, const std::string& item_path) {
      if (valid_set_name(text)) {
        out.push_back({text, std::nullopt});
        set_references_.push_back({text, item_path, place_of(item)});
        return;
      }
      std::string why;
      auto prefix = net::ip_prefix::parse(text, &why);
      if (!prefix) {
        error(item, item_path, "invalid entry " + quote(text) + ": not an ip_sets name, and not an IP prefix (" + why + ")");
        return;
      }
      out.push_back({"", *prefix});
    });
  }

  // Origins as browsers send them: scheme://host[:port], no path; "null" for opaque origins.
  // One token bucket, or a list of them (`[{ requests: 100, per: 1m, key: route }, { ... }]`).
  bool read_rate_limits(const YAML::Node& node, const std::string& path, std::vector<rate_limit>& out) {
    if (node.IsMap()) {
      auto limit = read_rate_limit(node, path);
      if (limit) out.push_back(std::move(*limit));
      return limit.has_value();
    }
    if (!node.IsSequence() || node.size() == 0) {
      error(node, path, "expected a rate limit { requests, per, burst, key } or a non-empty list of them, got " + describe(node));
      return false;
    }
    bool ok = true;
    std::size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      const YAML::Node item = *it;
      const std::string item_path = index(path, i);
      if (!expect_map(item, item_path)) {
        ok = false;
        continue;
      }
      auto limit = read_rate_limit(item, item_path);
      if (limit) out.push_back(std::move(*limit));
      else ok = false;
    }
    return ok;
  }

  std::optional<rate_limit> read_rate_limit(const YAML::Node& node, const std::string& path) {
    rate_limit out;
    out.where = path;
    bool ok = true;
    bool have_requests = false;
    for (const entry& e : entries(node, path, rate_limit_keys)) {
      const std::string key_path = join(path, e.key);
      const YAML::Node& v = e.value;
      if (e.key == "requests") {
        have_requests = true;
        if (auto n = read_unsigned(v, key_path, 1, 1'000'000'000)) out.requests = static_cast<std::uint32_t>(*n);
        else ok = false;
      } else if (e.key == "per") {
        auto d = read_duration(v, key_path);
        if (d && d->count() <= 0) {
          error(v, key_path, "the period must be longer than 0 (e.g. 1s, 1m)");
          d.reset();
        } else if (d && *d > std::chrono::hours(24)) {
          error(v, key_path, "the period must be at most 24h");
          d.reset();
        }
        if (d) out.per = *d;
        else ok = false;
      } else if (e.key == "burst") {
        if (auto n = read_unsigned(v, key_path, 1, 1'000'000'000)) out.burst = static_cast<std::uint32_t>(*n);
        else ok = false;
      } else if (e.key == "key") {
        ok = read_rate_limit_key(v, key_path, out.key) && ok;
      } else if (e.key == "ipv4_prefix") {
        if (auto n = read_unsigned(v, key_path, 1, 32)) out.ipv4_prefix = static_cast<unsigned>(*n);
        else ok = false;
      } else if (e.key == "ipv6_prefix") {
        if (auto n = read_unsigned(v, key_path, 1, 128)) out.ipv6_prefix = static_cast<unsigned>(*n);
        else ok = false;
      } else if (e.key == "max_keys") {
        if (auto n = read_unsigned(v, key_path, 1, 10'000'000)) out.max_keys = static_cast<std::uint32_t>(*n);
        else ok = false;
      } else if (e.key == "dry_run") {
        if (auto b = read_bool(v, key_path)) out.dry_run = *b;
        else ok = false;
      }
    }
    if (!have_requests) {
      error(node, join(path, "requests"), "missing required key \"requests\" (e.g. rate_limit: { requests: 10, per: 1s })");
      return std::nullopt;
    }
    if (out.burst == 0) out.burst = out.requests;
    if (!ok) return std::nullopt;
    return out;
  }

  // `client_ip`, `route`, or a list of parts: [client_ip, route].
  bool read_rate_limit_key(const YAML::Node& node, const std::string& path, std::vector<rate_limit::key_part>& out) {
    static constexpr std::string_view expected = "expected one of: client_ip, route, tool, mcp_method, caller";
    auto part_of = [&](const YAML::Node& item, const std::string& item_path) -> std::optional<rate_limit::key_part> {
      auto text = read_string(item, item_path);
      if (!text) return std::nullopt;
      if (*text == "client_ip") return rate_limit::key_part::client_ip;
      if (*text == "route") return rate_limit::key_part::route;
      if (*text == "tool") return rate_limit::key_part::tool;
      if (*text == "mcp_method") return rate_limit::key_part::mcp_method;
      if (*text == "caller") return rate_limit::key_part::caller;
      error(item, item_path, "invalid rate limit key " + quote(*text) + " (" + std::string(expected) + ")");
      return std::nullopt;
    };
    out.clear();
    if (node.IsSequence()) {
      if (node.size() == 0) {
        error(node, path, "empty key list (" + std::string(expected) + ")");
        return false;
      }
      bool ok = true;
      std::size_t i = 0;
      for (auto it = node.begin(); it != node.end(); ++it, ++i) {
        auto part = part_of(*it, index(path, i));
        if (!part) {
          ok = false;
        } else if (std::find(out.begin(), out.end(), *part) == out.end()) {
          out.push_back(*part);
        }
      }
      return ok;
    }
    auto part = part_of(node, path);
    if (part) out.push_back(*part);
    return part.has_value();
  }

  bool read_route_limits(const YAML::Node& node, const std::string& path, route_limits& out) {
    if (!expect_map(node, path)) return false;
    constexpr std::uint64_t max_u32 = 0xffffffffu;
    bool ok = true;
    for (const entry& e : entries(node, path, route_limits_keys)) {
      const std::string key_path = join(path, e.key);
      if (e.key == "max_request_header_bytes") {
        if (auto n = read_size(e.value, key_path, max_u32)) out.max_request_header_bytes = static_cast<std::uint32_t>(*n);
        else ok = false;
      } else {
        if (auto n = read_size(e.value, key_path, ~std::uint64_t{0})) out.max_request_body_bytes = *n;
        else ok = false;
      }
    }
    return ok;
  }

  // `{ allow: [...], deny: [...], dry_run }`, entries globs or `{ name: glob }`.
  bool read_name_rule(const YAML::Node& node, const std::string& path, name_rule& out) {
    out.where = path;
    if (!expect_map(node, path)) return false;
    bool ok = true;
    for (const entry& e : entries(node, path, name_rule_keys)) {
      const std::string key_path = join(path, e.key);
      if (e.key == "dry_run") {
        if (auto b = read_bool(e.value, key_path)) out.dry_run = *b;
        else ok = false;
        continue;
      }
      auto& list = e.key == "allow" ? out.allow : out.deny;
      if (!e.value.IsSequence()) {
        error(e.value, key_path, "expected a list of names or globs (e.g. [read_file, \"list_*\"]), got " + describe(e.value));
        ok = false;
        continue;
      }
      std::size_t i = 0;
      for (auto it = e.value.begin(); it != e.value.end(); ++it, ++i) {
        const YAML::Node item = *it;
        const std::string item_path = index(key_path, i);
        std::optional<std::string> glob;
        caller_condition caller;
        bool caller_ok = true;
        if (item.IsMap()) {
          for (const entry& f : entries(item, item_path, name_pattern_keys)) {
            const std::string field_path = join(item_path, f.key);
            if (f.key == "name") glob = read_string(f.value, field_path);
            else caller_ok = read_caller_condition(f, field_path, caller) && caller_ok;
          }
          if (!glob && !node_has_key(item, "name")) error(item, join(item_path, "name"), "missing required key \"name\"");
        } else {
          glob = read_string(item, item_path);
        }
        if (glob && glob->empty()) {
          error(item, item_path, "empty name (use \"*\" for every name)");
          glob.reset();
        }
        if (glob && caller_ok) {
          if (!caller.empty()) out_conditions_.push_back({item_path, where(item), out.where});
          list.push_back({*glob, std::move(caller)});
        } else {
          ok = false;
        }
      }
    }
    return ok;
  }

  // ---- auth ------------------------------------------------------------------------

  // `scope: files:write`, `key: [ci-*, deploy]`: a string or a list of strings.
  bool read_caller_condition(const entry& e, const std::string& path, caller_condition& out) {
    std::vector<std::string>* list = e.key == "scope"       ? &out.scopes
                                     : e.key == "subject"   ? &out.subjects
                                     : e.key == "client_id" ? &out.client_ids
                                     : e.key == "key"       ? &out.keys
                                                            : &out.client_certs;
    auto values = read_string_or_list(e.value, path);
    if (!values) return false;
    for (const auto& v : *values) {
      if (v.empty() || v.find_first_of(" \t") != std::string::npos) {
        error(e.value, path, "invalid value " + quote(v) + ": expected a non-empty word without spaces");
        return false;
      }
    }
    *list = std::move(*values);
    return true;
  }

  std::optional<std::vector<std::string>> read_string_or_list(const YAML::Node& node, const std::string& path) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      if (auto s = read_string(node, path)) out.push_back(*s);
      else return std::nullopt;
      return out;
    }
    if (!node.IsSequence()) {
      error(node, path, "expected a string or a list of strings, got " + describe(node));
      return std::nullopt;
    }
    bool ok = true;
    std::size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      if (auto s = read_string(*it, index(path, i))) out.push_back(*s);
      else ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // An absolute URL without fragment. `https_only`: the MCP spec's rule for authorization
  // server URLs (plain http would let anyone on the path swap the keys).
  std::optional<std::string> read_url(const YAML::Node& node, const std::string& path, bool https_only,
                                      std::string_view example) {
    auto text = read_string(node, path);
    if (!text) return std::nullopt;
    auto fail = [&](std::string_view why) -> std::optional<std::string> {
      error(node, path, "invalid URL " + quote(*text) + ": " + std::string(why) + " (e.g. " + std::string(example) + ")");
      return std::nullopt;
    };
    auto parsed = boost::urls::parse_absolute_uri(*text);
    if (!parsed) return fail("not an absolute URL");
    const auto scheme = lower(parsed->scheme());
    if (https_only && scheme != "https") return fail("the scheme must be https");
    if (scheme != "https" && scheme != "http") return fail("the scheme must be https or http");
    if (!parsed->has_authority() || parsed->host().empty()) return fail("missing host");
    if (parsed->has_userinfo()) return fail("user info is not allowed");
    if (parsed->has_fragment()) return fail("a fragment is not allowed");
    return *text;
  }

  bool read_route_auth(const YAML::Node& node, const std::string& path, route_auth& out) {
    if (!expect_map(node, path)) return false;
    bool ok = true;
    for (const entry& e : entries(node, path, route_auth_keys)) {
      const std::string key_path = join(path, e.key);
      if (e.key == "oauth") {
        if (auto o = read_oauth(e.value, key_path)) out.oauth = std::move(*o);
        else ok = false;
      } else if (e.key == "api_keys") {
        if (auto b = read_bool(e.value, key_path)) out.api_keys = *b;
        else ok = false;
      } else if (e.key == "pass_authorization") {
        if (auto b = read_bool(e.value, key_path)) out.pass_authorization = *b;
        else ok = false;
      } else if (e.key == "client_cert") {
        client_cert_rule rule;
        if (e.value.IsScalar()) {
          auto b = read_bool(e.value, key_path);
          if (!b) ok = false;
          else if (*b) out.client_cert = rule;
        } else if (expect_map(e.value, key_path)) {
          for (const entry& f : entries(e.value, key_path, client_cert_rule_keys)) {
            if (auto names = read_string_or_list(f.value, join(key_path, f.key))) rule.names = std::move(*names);
            else ok = false;
          }
          out.client_cert = std::move(rule);
        } else {
          ok = false;
        }
      }
    }
    if (ok && !out.enabled()) {
      error(node, path, "auth names no method: set oauth, api_keys: true or client_cert (or remove auth)");
      ok = false;
    }
    if (ok) auth_routes_.push_back({path, where(node)});
    return ok;
  }

  std::optional<oauth_settings> read_oauth(const YAML::Node& node, const std::string& path) {
    if (!expect_map(node, path)) return std::nullopt;
    oauth_settings out;
    bool ok = true;
    for (const entry& e : entries(node, path, oauth_keys)) {
      const std::string key_path = join(path, e.key);
      const YAML::Node& v = e.value;
      if (e.key == "issuer") {
        if (auto url = read_url(v, key_path, true, "https://auth.example.com")) out.issuer = *url;
        else ok = false;
      } else if (e.key == "audience") {
        if (auto url = read_url(v, key_path, false, "https://mcp.example.com/mcp")) out.audience = *url;
        else ok = false;
      } else if (e.key == "jwks_uri") {
        if (auto url = read_url(v, key_path, true, "https://auth.example.com/jwks.json")) out.jwks_uri = *url;
        else ok = false;
      } else if (e.key == "scopes") {
        if (!v.IsSequence()) {
          error(v, key_path, "expected a list of scopes (e.g. [mcp:tools]), got " + describe(v));
          ok = false;
          continue;
        }
        each_string(v, key_path, [&](const std::string& scope, const YAML::Node& item, const std::string& item_path) {
          if (scope.empty() || scope.find_first_of(" \t\"\\") != std::string::npos) {
            error(item, item_path, "invalid scope " + quote(scope) + " (RFC 6749: no spaces, quotes or backslashes)");
            ok = false;
            return;
          }
          out.scopes.push_back(scope);
        });
      } else if (e.key == "leeway") {
        if (auto d = read_duration(v, key_path)) {
          if (*d > std::chrono::minutes(10)) {
            error(v, key_path, "at most 10m (clock skew; a longer leeway keeps expired tokens alive)");
            ok = false;
          } else {
            out.leeway = *d;
          }
        } else {
          ok = false;
        }
      } else if (e.key == "refresh_interval") {
        if (auto d = read_positive_duration(v, key_path)) out.refresh_interval = *d;
        else ok = false;
      } else if (e.key == "ca_file" || e.key == "resource_name") {
        if (auto text = read_string(v, key_path)) (e.key == "ca_file" ? out.ca_file : out.resource_name) = *text;
        else ok = false;
      } else if (e.key == "allowed_ips") {
        if (auto prefixes = prefix_list(v, key_path, "[127.0.0.1/32]", "lets the issuer resolve to any address")) {
          out.allowed_ips = std::move(*prefixes);
        } else {
          ok = false;
        }
      } else if (e.key == "introspection") {
        if (auto i = read_introspection(v, key_path)) out.introspection = std::move(*i);
        else ok = false;
      }
    }
    for (const char* required : {"issuer", "audience"}) {
      if (!node_has_key(node, required)) {
        error(node, join(path, required),
              std::string("missing required key \"") + required +
                  (std::string_view(required) == "issuer"
                       ? "\" (the authorization server's URL, exactly as its tokens' iss claim)"
                       : "\" (the URL clients use for this route; tokens must be issued for it)"));
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // A credential the config points to: the content of file `name` (from_file) or of
  // environment variable `name`. `source` becomes "file <name>" / "env <name>", what
  // messages show instead of the value.
  std::optional<std::string> read_secret(const YAML::Node& at, const std::string& key_path, bool from_file,
                                         const std::string& name, std::string& source) {
    source = (from_file ? "file " : "env ") + name;
    if (!from_file) {
      const char* value = std::getenv(name.c_str());
      if (!value) {
        error(at, key_path, "environment variable " + quote(name) + " is not set");
        return std::nullopt;
      }
      return std::string(value);
    }
    std::string content;
    try {
      // A credential is short; the bound keeps a mistaken path (/dev/zero, a log) out.
      content = pki::read_file(name, 64 * 1024);
    } catch (const std::exception& failure) {
      error(at, key_path, failure.what());
      return std::nullopt;
    }
    // A secrets file usually ends with a newline that is not part of the value.
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
    return content;
  }

  std::optional<introspection_settings> read_introspection(const YAML::Node& node, const std::string& path) {
    if (!expect_map(node, path)) return std::nullopt;
    introspection_settings out;
    bool ok = true;
    std::optional<std::string> secret;
    for (const entry& e : entries(node, path, introspection_keys)) {
      const std::string key_path = join(path, e.key);
      const YAML::Node& v = e.value;
      if (e.key == "endpoint") {
        if (auto url = read_url(v, key_path, true, "https://auth.example.com/oauth2/introspect")) out.endpoint = *url;
        else ok = false;
      } else if (e.key == "client_id") {
        auto text = read_string(v, key_path);
        if (text && (text->empty() || text->find_first_of("\r\n") != std::string::npos)) {
          error(v, key_path, "the client_id must be a non-empty line");
          text.reset();
        }
        if (text) out.client_id = *text;
        else ok = false;
      } else if (e.key == "cache" || e.key == "timeout") {
        const bool cache = e.key == "cache";  // 0 turns the cache off; a timeout of 0 makes no sense
        auto d = cache ? read_duration(v, key_path) : read_positive_duration(v, key_path);
        const duration most = cache ? duration(std::chrono::minutes(5)) : duration(std::chrono::seconds(30));
        if (d && *d > most) {
          error(v, key_path, cache ? "at most 5m (a revoked token stays usable until its cached answer expires)"
                                   : "at most 30s (requests wait for it)");
          d.reset();
        }
        if (d) (cache ? out.cache : out.timeout) = *d;
        else ok = false;
      } else if (secret) {
        error(v, key_path, "give client_secret_file or client_secret_env, not both");
        ok = false;
      } else if (auto name = read_string(v, key_path)) {
        secret = read_secret(v, key_path, e.key == "client_secret_file", *name, out.secret_source);
        if (!secret) {
          ok = false;
          secret = std::string();
        } else if (secret->empty()) {
          error(v, key_path, "the client secret from " + out.secret_source + " is empty");
          ok = false;
        }
      } else {
        ok = false;
      }
    }
    if (!node_has_key(node, "endpoint")) {
      // Not taken from the issuer's metadata: the endpoint receives every token, so the
      // operator names it.
      error(node, join(path, "endpoint"),
            "missing required key \"endpoint\" (the authorization server's RFC 7662 introspection endpoint)");
      ok = false;
    }
    if (!node_has_key(node, "client_id")) {
      error(node, join(path, "client_id"), "missing required key \"client_id\" (the gateway's client at the issuer)");
      ok = false;
    }
    if (!secret) {
      error(node, path, "missing client_secret_file or client_secret_env (the endpoint authenticates the gateway)");
      ok = false;
    }
    if (!ok) return std::nullopt;
    out.client_secret = std::move(*secret);
    return out;
  }

  std::optional<upstream_credential> read_upstream_auth(const YAML::Node& node, const std::string& path) {
    if (!expect_map(node, path)) return std::nullopt;
    upstream_credential out;
    std::string prefix;
    bool ok = true;
    std::optional<std::string> secret;
    for (const entry& e : entries(node, path, upstream_auth_keys)) {
      const std::string key_path = join(path, e.key);
      auto text = read_string(e.value, key_path);
      if (!text) {
        ok = false;
        continue;
      }
      if (e.key == "header") {
        const bool token = !text->empty() && std::all_of(text->begin(), text->end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
        });
        if (!token) {
          error(e.value, key_path, "invalid header name " + quote(*text));
          ok = false;
        }
        out.header = lower(*text);
      } else if (e.key == "prefix") {
        prefix = *text;
      } else if (secret) {
        error(e.value, key_path, "give value_file or value_env, not both");
        ok = false;
      } else {
        secret = read_secret(e.value, key_path, e.key == "value_file", *text, out.source);
        if (!secret) {
          ok = false;
          secret = std::string();
        }
      }
    }
    if (!secret) {
      error(node, path, "missing value_file or value_env (where the credential comes from)");
      return std::nullopt;
    }
    if (ok && secret->empty()) {
      error(node, path, "the credential from " + out.source + " is empty");
      ok = false;
    }
    out.value = prefix + *secret;
    if (ok && out.value.find_first_of("\r\n") != std::string::npos) {
      error(node, path, "the credential from " + out.source + " holds a line break (not allowed in a header)");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // `admin:` alone: 127.0.0.1:9901, any local client, metrics on.
  void admin(const YAML::Node& node, admin_settings& out) {
    out.enabled = true;
    if (node.IsNull()) return;
    if (!expect_map(node, "admin")) return;
    std::optional<YAML::Node> listen_node;  // a handle of its own: the entries are gone after the loop
    for (const entry& e : entries(node, "admin", admin_keys)) {
      const std::string path = join("admin", e.key);
      if (e.key == "listen") {
        listen_node = e.value;
        if (auto l = read_address(e.value, path)) out.listen = std::move(*l);
      } else if (e.key == "allow") {
        if (auto prefixes = prefix_list(e.value, path, "[127.0.0.1, 10.1.2.0/24]", "lets anyone read the admin pages")) {
          out.allow = std::move(*prefixes);
        }
      } else if (e.key == "key_sha256") {
        auto s = read_string(e.value, path);
        auto digest = s ? parse_sha256(*s) : std::nullopt;
        if (digest) {
          out.key_sha256 = *digest;
        } else if (s) {
          error(e.value, path,
                "expected the admin key's SHA-256 as 64 hex digits (echo -n KEY | mcpgate api-key hash), got " +
                    std::to_string(s->size()) + " characters");
        }
      } else if (e.key == "metrics") {
        if (auto b = read_bool(e.value, path)) out.metrics = *b;
      }
    }
    // Closed by default: the status page names upstreams, clients and certificates.
    if (!is_loopback_host(out.listen.bind_host) && out.allow.empty() && !out.key_sha256) {
      error(listen_node ? *listen_node : node, listen_node ? "admin.listen" : "admin",
            "the admin listener on " + quote(out.listen.address) +
                " is reachable beyond this host: set admin.allow (the networks that may ask) or admin.key_sha256 "
                "(a bearer key), or listen on 127.0.0.1");
    }
  }

  static bool is_loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    const auto address = net::ip_prefix::parse(host);  // a bare address: a /32 or /128
    if (!address) return false;
    const auto loopback = net::loopback_prefixes();
    return std::any_of(loopback.begin(), loopback.end(),
                       [&](const net::ip_prefix& p) { return p.contains(address->network()); });
  }

  void api_keys(const YAML::Node& node) {
    if (!node.IsSequence()) {
      error(node, "api_keys", "expected a list of keys ({ name, sha256 }), got " + describe(node));
      return;
    }
    std::set<std::string> names;
    std::size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      const YAML::Node item = *it;
      const std::string path = index("api_keys", i);
      if (!expect_map(item, path)) continue;
      api_key key;
      bool ok = true;
      for (const entry& e : entries(item, path, api_key_keys)) {
        const std::string key_path = join(path, e.key);
        if (e.key == "name") {
          auto s = read_string(e.value, key_path);
          if (s && !auth::valid_api_key_name(*s)) {
            error(e.value, key_path, "invalid key name " + quote(*s) + " (1-64 letters, digits, '.', '_', '@' or '-')");
            s.reset();
          }
          if (s) key.name = *s;
          else ok = false;
        } else if (e.key == "sha256") {
          auto s = read_string(e.value, key_path);
          auto digest = s ? parse_sha256(*s) : std::nullopt;
          if (!digest) {
            if (s) {
              error(e.value, key_path,
                    "expected the key's SHA-256 as 64 hex digits (mcpgate api-key create prints it), got " +
                        std::to_string(s->size()) + " characters");
            }
            ok = false;
          } else {
            key.sha256 = *digest;
          }
        } else {
          auto values = read_string_or_list(e.value, key_path);
          if (!values) {
            ok = false;
          } else if (e.key == "routes") {
            key.routes = std::move(*values);
            api_key_route_refs_.push_back({key_path, where(e.value), key.routes});
          } else {
            key.tools.where = key_path;
            for (auto& glob : *values) key.tools.allow.push_back({std::move(glob), {}});
          }
        }
      }
      for (const char* required : {"name", "sha256"}) {
        if (!node_has_key(item, required)) {
          error(item, join(path, required), std::string("missing required key \"") + required + "\"");
          ok = false;
        }
      }
      if (ok && !names.insert(key.name).second) {
        error(item, join(path, "name"), "duplicate key name " + quote(key.name));
        ok = false;
      }
      if (ok) {
        for (const auto& other : cfg_.api_keys) {
          if (other.sha256 == key.sha256) {
            error(item, join(path, "sha256"), "the same key as " + quote(other.name));
            ok = false;
          }
        }
      }
      if (ok) cfg_.api_keys.push_back(std::move(key));
    }
  }

  static std::optional<std::array<std::uint8_t, 32>> parse_sha256(std::string_view text) {
    if (text.rfind("sha256:", 0) == 0) text.remove_prefix(7);
    if (text.size() != 64) return std::nullopt;
    std::array<std::uint8_t, 32> out{};
    for (std::size_t i = 0; i < 32; ++i) {
      unsigned value = 0;
      for (std::size_t j = 0; j < 2; ++j) {
        const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[2 * i + j])));
        if (c >= '0' && c <= '9') value = value * 16 + static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') value = value * 16 + static_cast<unsigned>(c - 'a' + 10);
        else return std::nullopt;
      }
      out[i] = static_cast<std::uint8_t>(value);
    }
    return out;
  }

  // What a route's auth and its caller conditions need of each other.
  bool check_route_auth(const YAML::Node& node, const std::string& path, const route& r) {
    bool ok = true;
    const auto& auth = r.auth;
    if (auth.pass_authorization && r.upstream_auth && r.upstream_auth->header == "authorization") {
      error(node, join(path, "upstream_auth"), "upstream_auth sets Authorization: it cannot also pass the client's on (auth.pass_authorization)");
      ok = false;
    }
    for (const auto& c : out_conditions_) {
      if (c.rule_where.rfind(path + ".", 0) != 0) continue;
      const name_rule* rule = c.rule_where == r.policy.tools.where       ? &r.policy.tools
                              : c.rule_where == r.policy.prompts.where   ? &r.policy.prompts
                                                                         : &r.policy.resources;
      for (const auto* list : {&rule->allow, &rule->deny}) {
        for (const auto& p : *list) {
          if (p.caller.empty()) continue;
          std::string needs;
          if ((!p.caller.scopes.empty() || !p.caller.subjects.empty() || !p.caller.client_ids.empty()) && !auth.oauth) needs = "auth.oauth";
          else if (!p.caller.keys.empty() && !auth.api_keys) needs = "auth.api_keys";
          else if (!p.caller.client_certs.empty() && !auth.client_cert) needs = "auth.client_cert";
          if (needs.empty()) continue;
          add(diagnostic::severity::error, c.at, c.path,
              "a condition on the caller that can never hold: the route has no " + needs);
          ok = false;
        }
      }
    }
    out_conditions_.erase(std::remove_if(out_conditions_.begin(), out_conditions_.end(),
                                         [&](const auto& c) { return c.rule_where.rfind(path + ".", 0) == 0; }),
                          out_conditions_.end());
    return ok;
  }

  bool read_origins(const YAML::Node& node, const std::string& path, std::vector<std::string>& out) {
    if (!node.IsSequence()) {
      error(node, path, "expected a list of origins (e.g. [\"https://app.example.com\"]), got " + describe(node));
      return false;
    }
    bool ok = true;
    each_string(node, path, [&](const std::string& text, const YAML::Node& item, const std::string& item_path) {
      const std::string origin = lower(text);
      const auto scheme_end = origin.find("://");
      const bool shaped = origin == "null" ||
                          (scheme_end != std::string::npos && scheme_end > 0 && origin.size() > scheme_end + 3 &&
                           origin.find_first_of("/?#", scheme_end + 3) == std::string::npos);
      if (!shaped) {
        error(item, item_path, "invalid origin " + quote(text) + " (expected scheme://host[:port] with no path, e.g. https://app.example.com)");
        ok = false;
        return;
      }
      out.push_back(origin);
    });
    return ok;
  }

  // fn(text, item, item_path) for every item of a list; items that are not strings are reported.
  template <class Fn>
  void each_string(const YAML::Node& list, const std::string& path, Fn&& fn) {
    std::size_t i = 0;
    for (auto it = list.begin(); it != list.end(); ++it, ++i) {
      const YAML::Node item = *it;
      const std::string item_path = index(path, i);
      if (auto text = read_string(item, item_path)) fn(*text, item, item_path);
    }
  }

  void check_ip_sets(std::chrono::system_clock::time_point now) {
    std::set<std::string> names, used;
    for (const auto& set : cfg_.ip_sets) names.insert(set.name);
    for (const auto& ref : set_references_) {
      used.insert(ref.name);
      if (names.count(ref.name) == 0) {
        add(diagnostic::severity::error, ref.at, ref.path,
            "unknown ip_sets name " + quote(ref.name) + (names.empty() ? " (no ip_sets are defined)" : ""));
      }
    }
    for (const auto& set : cfg_.ip_sets) {
      if (used.count(set.name) == 0) {
        add(diagnostic::severity::warning, {}, "ip_sets." + set.name, "set " + quote(set.name) + " is not used by any allow or deny");
      }
      for (const auto& e : set.entries) {
        const place at = ip_set_entry_places_[e.origin];
        if (!e.window.until) continue;
        const std::string until = format_timestamp(*e.window.until);
        if (e.window.expired_at(now)) {
          add(diagnostic::severity::warning, at, e.origin,
              e.prefix.to_string() + " expired at " + until + " and matches nothing: remove it");
        } else if (*e.window.until - now <= expiry_warning_window) {
          const auto days = std::chrono::duration_cast<std::chrono::hours>(*e.window.until - now).count() / 24;
          add(diagnostic::severity::warning, at, e.origin,
              e.prefix.to_string() + " expires at " + until + " (in " + std::to_string(days) + " days)");
        }
      }
    }
  }

  // ---- upstream, limits -------------------------------------------------------------

  void upstream(const YAML::Node& node) {
    if (!expect_map(node, "upstream")) return;
    for (const entry& e : entries(node, "upstream", upstream_keys)) {
      const std::string path = join("upstream", e.key);
      const YAML::Node& v = e.value;
      if (e.key == "allowed_ips") {
        allowed_ips(v, path);
      } else if (e.key == "disable_ip_validation") {
        disable_node_ = v;
        if (auto b = read_bool(v, path)) cfg_.upstream.disable_ip_validation = *b;
      } else if (expect_map(v, path)) {
        for (const entry& t : entries(v, path, upstream_tls_keys)) {
          const std::string tls_path = join(path, t.key);
          if (t.key == "ca_file") {
            if (auto s = read_string(t.value, tls_path)) cfg_.upstream.ca_file = *s;
          } else if (auto b = read_bool(t.value, tls_path)) {
            cfg_.upstream.include_system_cas = *b;
          }
        }
      }
    }
  }

  void allowed_ips(const YAML::Node& node, const std::string& path) {
    auto prefixes = prefix_list(node, path, "[10.0.0.0/8, 127.0.0.1]", "allows every address: this disables SSRF protection");
    if (!prefixes) return;
    cfg_.upstream.allowed_ips = std::move(*prefixes);
    cfg_.upstream.allowed_ips_set = true;
    if (node.size() == 0) warning(node, path, "upstream.allowed_ips is empty: every upstream will be refused");
  }

  // A list of IP prefixes; nullopt when the node is not a list. Bad items are reported
  // and left out (so one run shows all of them); a /0 gets a warning saying `wide_means`.
  std::optional<std::vector<net::ip_prefix>> prefix_list(const YAML::Node& node, const std::string& path,
                                                         std::string_view example, std::string_view wide_means) {
    if (!node.IsSequence()) {
      error(node, path, "expected a list of IP prefixes (e.g. " + std::string(example) + "), got " + describe(node));
      return std::nullopt;
    }
    std::vector<net::ip_prefix> out;
    each_string(node, path, [&](const std::string& text, const YAML::Node& item, const std::string& item_path) {
      std::string why;
      auto prefix = net::ip_prefix::parse(text, &why);
      if (!prefix) {
        error(item, item_path, "invalid IP prefix " + quote(text) + ": " + why);
        return;
      }
      const std::string shown = prefix->to_string();
      if (shown == "0.0.0.0/0" || shown == "::/0") warning(item, item_path, shown + " " + std::string(wide_means));
      out.push_back(*prefix);
    });
    return out;
  }

  void tunnel(const YAML::Node& node) {
    if (!expect_map(node, "tunnel")) return;
    auto& t = cfg_.tunnel;
    t.enabled = true;
    tunnel_node_ = node;
    for (const entry& e : entries(node, "tunnel", tunnel_keys)) {
      const std::string p = join("tunnel", e.key);
      if (e.key == "connections") {
        if (auto n = read_unsigned(e.value, p, 1, 64)) t.connections = static_cast<unsigned>(*n);
        continue;
      }
      auto text = read_string(e.value, p);
      if (!text) continue;
      if (e.key == "edge") {
        std::string why;
        const auto parsed = parse_listen_address(*text, &why);
        if (!parsed || parsed->host.empty() || parsed->port == 0) {
          error(e.value, p, "expected HOST:PORT of the edge's connector listener (e.g. edge.example.com:7844), got " +
                                quote(*text));
        } else {
          t.edge = *text;
        }
      } else if (e.key == "token_file") {
        t.token_file = *text;
      } else if (e.key == "edge_ca") {
        t.edge_ca = *text;
      } else if (e.key == "server_name") {
        t.server_name = *text;
      } else if (e.key == "listener") {
        t.listener = *text;
      }
    }
    if (t.edge.empty()) error(node, "tunnel.edge", "tunnel.edge is required (HOST:PORT of the edge's connector listener)");
    if (t.token_file.empty()) error(node, "tunnel.token_file", "tunnel.token_file is required (the token from `mcpgate tunnel create`)");
  }

  // The tunnel's streams need a listener that terminates TLS.
  void check_tunnel_listener() {
    auto& t = cfg_.tunnel;
    if (!t.enabled) return;
    if (!t.listener.empty()) {
      const auto it = std::find_if(cfg_.listeners.begin(), cfg_.listeners.end(),
                                   [&](const listener& l) { return l.address == t.listener; });
      if (it == cfg_.listeners.end()) {
        error(tunnel_node_, "tunnel.listener", "no listener has the address " + quote(t.listener));
      } else if (it->mode == listener_mode::plain) {
        error(tunnel_node_, "tunnel.listener",
              "listener " + quote(t.listener) + " is plain: tunnelled clients speak TLS to the gateway, so the "
              "listener must be tls or ws");
      }
      return;
    }
    const bool usable = std::any_of(cfg_.listeners.begin(), cfg_.listeners.end(),
                                    [](const listener& l) { return l.mode != listener_mode::plain; });
    if (!usable) {
      error(tunnel_node_, "tunnel",
            "the tunnel needs a tls or ws listener (listen_addr, or a listeners entry with mode: tls): the edge "
            "passes the client's TLS through and the gateway terminates it");
    }
  }

  void audit(const YAML::Node& node) {
    auto& out = cfg_.audit;
    out.enabled = true;
    if (node.IsNull()) return;  // `audit:` alone: stdout, defaults
    if (!expect_map(node, "audit")) return;
    for (const entry& e : entries(node, "audit", audit_keys)) {
      const std::string path = join("audit", e.key);
      if (e.key == "file") {
        if (auto s = read_string(e.value, path)) out.file = *s;
      } else if (e.key == "log_arguments") {
        if (auto b = read_bool(e.value, path)) out.log_arguments = *b;
      } else if (e.key == "max_argument_bytes") {
        if (auto n = read_size(e.value, path, 1024 * 1024)) out.max_argument_bytes = static_cast<std::uint32_t>(*n);
      } else if (e.key == "redact") {
        if (!e.value.IsSequence()) {
          error(e.value, path, "expected a list of key words (e.g. [password, token]), got " + describe(e.value));
          continue;
        }
        out.redact.clear();
        each_string(e.value, path, [&](const std::string& word, const YAML::Node& item, const std::string& item_path) {
          if (word.empty()) error(item, item_path, "empty key word");
          else out.redact.push_back(word);
        });
      }
    }
  }

  void limits(const YAML::Node& node) {
    if (!expect_map(node, "limits")) return;
    auto& out = cfg_.limits;
    constexpr std::uint64_t max_u32 = 0xffffffffu;
    for (const entry& e : entries(node, "limits", limits_keys)) {
      const std::string path = join("limits", e.key);
      const YAML::Node& v = e.value;
      if (e.key == "max_request_header_bytes") {
        if (auto n = read_size(v, path, max_u32)) out.max_request_header_bytes = static_cast<std::uint32_t>(*n);
      } else if (e.key == "max_request_body_bytes") {
        if (auto n = read_size(v, path, ~std::uint64_t{0})) out.max_request_body_bytes = *n;
      } else if (e.key == "max_response_header_bytes") {
        if (auto n = read_size(v, path, max_u32)) out.max_response_header_bytes = static_cast<std::uint32_t>(*n);
      } else if (e.key == "request_header_timeout") {
        if (auto d = read_duration(v, path)) out.request_header_timeout = *d;
      } else if (e.key == "request_body_timeout") {
        if (auto d = read_duration(v, path)) out.request_body_timeout = *d;
      } else if (e.key == "keepalive_timeout") {
        if (auto d = read_duration(v, path)) out.keepalive_timeout = *d;
      }
    }
  }

  // ---- checks that span keys ----------------------------------------------------------

  void cross_checks() {
    // -tunnel-domain wins over the key, as in mcp-proxy.
    if (over_.tunnel_domain) {
      std::string why;
      if (auto domain = normalise_domain(*over_.tunnel_domain, &why)) cfg_.tunnel_domain = *domain;
      else add(diagnostic::severity::error, {}, "tunnel_domain", "-tunnel-domain: " + why);
    }

    // listen_addr first: it is what an mcp-proxy config means by "the" listener.
    std::vector<listener_source> sources;
    if (listen_addr_listener_) {
      cfg_.listeners.push_back(std::move(*listen_addr_listener_));
      sources.push_back(listen_addr_source_);
    }
    for (std::size_t i = 0; i < listener_entries_.size(); ++i) {
      cfg_.listeners.push_back(std::move(listener_entries_[i]));
      sources.push_back(listener_entry_sources_[i]);
    }
    if (cfg_.listeners.empty() && !listen_addr_seen_ && !listeners_seen_) {
      add(diagnostic::severity::error, {}, "listen_addr", "listen_addr or listeners is required");
    } else if (cfg_.listeners.empty() && !listen_addr_seen_ && listeners_node_.IsSequence() && listeners_node_.size() == 0) {
      error(listeners_node_, "listeners", "listen_addr or listeners is required (listeners is empty)");
    }
    std::set<std::pair<std::string, std::uint16_t>> bound;
    for (std::size_t i = 0; i < cfg_.listeners.size(); ++i) {
      listener& l = cfg_.listeners[i];
      const listener_source& src = sources[i];
      // Port 0 asks the kernel for a fresh port each time, so it never collides.
      if (l.port != 0 && !bound.insert({l.bind_host, l.port}).second) {
        add(diagnostic::severity::error, src.at, src.path, "duplicate listener address " + quote(l.address));
      }
      if (l.mode == listener_mode::plain) {
        if (!l.tls.client_ca_file.empty()) {
          add(diagnostic::severity::error, src.at, src.path,
              "listener " + quote(l.address) + " is plain: there is no TLS handshake to verify client certificates in");
        }
        continue;
      }
      if (!l.tls.empty()) continue;
      if (!cfg_.tls.empty()) {
        // The shared certificate, with the listener's own client-certificate settings if it has them.
        tls_files own = l.tls;
        l.tls = cfg_.tls;
        if (!own.client_ca_file.empty()) {
          l.tls.client_ca_file = own.client_ca_file;
          l.tls.client_cert_required = own.client_cert_required;
        }
        continue;
      }
      add(diagnostic::severity::error, src.at, src.path,
          "listener " + quote(l.address) + " (mode " + to_string(l.mode) +
              ") needs a certificate: set tls.cert_file and tls.key_file" +
              (l.from_listen_addr ? "" : ", or the listener's own tls:"));
    }

    if (cfg_.routes.empty() && route_count_attempted() == 0) {
      add(diagnostic::severity::warning, routes_seen_ ? where(routes_node_) : place{}, "routes",
          "no routes: every request will get 502");
    }
    const bool trust = !cfg_.upstream.ca_file.empty() || cfg_.upstream.include_system_cas;
    for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
      const route& r = cfg_.routes[i];
      if (!r.any_tls() || trust) continue;
      add(diagnostic::severity::error, route_sources_[i].at, route_sources_[i].path,
          "route " + quote(r.name) + " has an https upstream but neither upstream.tls.ca_file nor "
          "upstream.tls.include_system_cas is set: otherwise the proxy has no trust anchor");
    }
    if (cfg_.tunnel_domain.empty()) {
      for (const auto& key : bare_subdomain_keys_) {
        add(diagnostic::severity::warning, key.at, key.path,
            "bare subdomain key without tunnel_domain: it only matches a Host of exactly this name");
      }
    }

    check_ip_sets(over_.now.value_or(std::chrono::system_clock::now()));

    if (cfg_.upstream.disable_ip_validation) {
      if (cfg_.upstream.allowed_ips_set) {
        error(disable_node_, "upstream.disable_ip_validation",
              "upstream.disable_ip_validation and upstream.allowed_ips are mutually exclusive");
      } else {
        warning(disable_node_, "upstream.disable_ip_validation",
                "upstream IP validation is off: routes may reach any address (no SSRF protection)");
      }
    }
    check_tunnel_listener();
    check_auth();
  }

  void check_auth() {
    std::set<std::string> route_names;
    bool any_route_takes_keys = false;
    for (const auto& r : cfg_.routes) {
      route_names.insert(r.name);
      any_route_takes_keys = any_route_takes_keys || r.auth.api_keys;
    }
    for (const auto& ref : api_key_route_refs_) {
      for (const auto& name : ref.names) {
        if (route_names.count(name)) continue;
        add(diagnostic::severity::error, ref.at, ref.path, "unknown route " + quote(name));
      }
    }
    if (!cfg_.api_keys.empty() && !any_route_takes_keys) {
      add(diagnostic::severity::warning, {}, "api_keys", "no route accepts API keys (auth: { api_keys: true })");
    }
    const bool any_listener_verifies = std::any_of(cfg_.listeners.begin(), cfg_.listeners.end(), [](const listener& l) {
      return !l.tls.client_ca_file.empty();
    });
    for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
      const auto& r = cfg_.routes[i];
      const auto& at = route_sources_[i];
      if (r.auth.api_keys && cfg_.api_keys.empty()) {
        add(diagnostic::severity::error, at.at, at.path,
            "route " + quote(r.name) + " accepts API keys but none are configured (top-level api_keys)");
      }
      if (r.auth.client_cert && !any_listener_verifies) {
        add(diagnostic::severity::error, at.at, at.path,
            "route " + quote(r.name) + " needs a client certificate but no listener verifies them (tls.client_ca_file)");
      }
    }
  }

  // Routes that were written but failed count as written: no "no routes" warning on top.
  std::size_t route_count_attempted() const {
    return routes_node_.IsMap() || routes_node_.IsSequence() ? routes_node_.size() : 0;
  }

  struct set_reference {
    std::string name;
    std::string path;
    place at;
  };
  std::vector<set_reference> set_references_;       // every ip_sets name an allow/deny uses
  struct condition_place {
    std::string path;        // "routes.files.tools.allow[0]"
    place at;
    std::string rule_where;  // "routes.files.tools"
  };
  std::vector<condition_place> out_conditions_;  // patterns with caller conditions, until their route is checked
  std::vector<listener_source> auth_routes_;     // routes with auth:, for the cross checks
  struct route_names_reference {
    std::string path;
    place at;
    std::vector<std::string> names;
  };
  std::vector<route_names_reference> api_key_route_refs_;
  std::map<std::string, place> ip_set_entry_places_;  // "ip_sets.claude[1]" -> where it is written

  std::string file_;
  overrides over_;
  config cfg_;
  YAML::Node tunnel_node_;
  edge_config edge_;
  std::vector<diagnostic> diags_;
  std::map<int, place> null_values_;  // empty values (by offset in the text) -> their key's place

  bool listen_addr_seen_ = false;
  std::optional<listener> listen_addr_listener_;
  listener_source listen_addr_source_;
  bool listeners_seen_ = false;
  YAML::Node listeners_node_;
  std::vector<listener> listener_entries_;
  std::vector<listener_source> listener_entry_sources_;
  bool routes_seen_ = false;
  YAML::Node routes_node_;
  std::vector<listener_source> route_sources_;  // parallel to cfg_.routes: where its upstream is
  std::vector<listener_source> bare_subdomain_keys_;
  YAML::Node disable_node_;
};

}  // namespace

load_result load_string(std::string_view yaml, const std::string& name, const overrides& over) {
  try {
    loader l(name, over);
    return l.run(yaml);
  } catch (const std::exception& e) {
    load_result result;
    diagnostic d;
    d.file = name;
    d.message = std::string("internal error while reading the config: ") + e.what();
    result.diagnostics.push_back(std::move(d));
    return result;
  } catch (...) {
    load_result result;
    result.diagnostics.push_back(diagnostic{diagnostic::severity::error, name, 0, 0, "", "internal error while reading the config"});
    return result;
  }
}

namespace {

// The file's text, or a diagnostic saying why it cannot be read.
std::variant<std::string, diagnostic> read_config_file(const std::string& path) {
  auto fail = [&](std::string message) {
    diagnostic d;
    d.file = path;
    d.message = std::move(message);
    return d;
  };
  try {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec) return fail("cannot read config file: " + ec.message());
    if (std::filesystem::is_directory(status)) return fail("cannot read config file: it is a directory");
    if (std::filesystem::is_regular_file(status)) {
      const auto size = std::filesystem::file_size(path, ec);
      if (!ec && size > max_file_bytes) return fail("config file is larger than 4 MiB");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("cannot read config file: " + std::error_code(errno, std::generic_category()).message());
    std::string text;
    char buf[64 * 1024];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      text.append(buf, static_cast<std::size_t>(in.gcount()));
      if (text.size() > max_file_bytes) return fail("config file is larger than 4 MiB");
    }
    if (in.bad()) return fail("cannot read config file: read error");
    return text;
  } catch (const std::exception& e) {
    return fail(std::string("cannot read config file: ") + e.what());
  }
}

}  // namespace

load_result load_file(const std::string& path, const overrides& over) {
  auto text = read_config_file(path);
  if (auto* d = std::get_if<diagnostic>(&text)) {
    load_result result;
    result.diagnostics.push_back(std::move(*d));
    return result;
  }
  return load_string(std::get<std::string>(text), path, over);
}

edge_load_result load_edge_string(std::string_view yaml, const std::string& name) {
  loader l(name, overrides{});
  return l.run_edge(yaml);
}

edge_load_result load_edge_file(const std::string& path) {
  auto text = read_config_file(path);
  if (auto* d = std::get_if<diagnostic>(&text)) {
    edge_load_result result;
    result.diagnostics.push_back(std::move(*d));
    return result;
  }
  return load_edge_string(std::get<std::string>(text), path);
}

// ---- summary --------------------------------------------------------------------------

namespace {

// " allow [claude, 10.0.0.0/8] deny [...] action abort (dry run)", "" without a rule.
std::string access_text(const access_rule& rule, bool with_action) {
  if (rule.empty()) return "";
  auto list = [](const std::vector<access_rule::reference>& refs) {
    std::string out = "[";
    for (std::size_t i = 0; i < refs.size(); ++i) {
      out += (i ? ", " : "") + (refs[i].prefix ? refs[i].prefix->to_string() : refs[i].set);
    }
    return out + "]";
  };
  std::string out;
  if (!rule.allow.empty()) out += " allow " + list(rule.allow);
  if (!rule.deny.empty()) out += " deny " + list(rule.deny);
  if (with_action) out += rule.action == access_rule::deny_action::abort ? " action abort" : " action 403";
  if (rule.dry_run) out += " (dry run)";
  return out;
}

std::string listener_line(const listener& l) {
  std::string out = "  " + l.address + " " + to_string(l.mode);
  if (l.from_listen_addr) out += " (listen_addr)";
  if (l.mode != listener_mode::plain) {
    out += " cert " + l.tls.cert_file + " key " + l.tls.key_file + " (polled " +
           (l.tls.poll_interval.count() == 0 ? std::string("never") : "every " + format_duration(l.tls.poll_interval)) + ")";
  }
  if (l.proxy_protocol) out += " proxy_protocol";
  if (l.max_connections != 0) out += " max_connections " + std::to_string(l.max_connections);
  if (l.max_connections_per_client != 0) out += " max_connections_per_client " + std::to_string(l.max_connections_per_client);
  out += access_text(l.access, false);
  return out;
}

std::string route_line(const route& r) {
  std::string out = "  " + r.host_key + " " + r.path + " -> ";
  if (r.instances.size() > 1) {
    out += "[";
    for (std::size_t i = 0; i < r.instances.size(); ++i) out += (i ? ", " : "") + r.instances[i].to_string();
    out += "] (least busy, session affinity)";
  } else {
    out += r.upstream.to_string();
  }
  out += " (connect " + format_duration(r.timeouts.connect) + ", response header " +
         format_duration(r.timeouts.response_header) + ", stream idle " +
         (r.timeouts.stream_idle.count() == 0 ? std::string("off") : format_duration(r.timeouts.stream_idle));
  if (r.preserve_host) out += ", preserve host";
  if (r.strip_path) out += ", strip path";
  if (r.health.enabled) {
    out += ", health check " + (r.health.path.empty() ? std::string("connect") : "GET " + r.health.path) + " every " +
           format_duration(r.health.interval);
  }
  if (r.stdio) {
    out += r.stdio->shared ? ", one shared process" : ", one process per session";
    out += ", at most " + std::to_string(r.stdio->max_processes);
    if (!r.stdio->user.empty()) out += ", as user " + r.stdio->user;
    if (r.stdio->shell) out += ", through /bin/sh";
  }
  out += ")" + access_text(r.access, true);
  if (!r.allowed_origins.empty()) {
    out += " origins [";
    for (std::size_t i = 0; i < r.allowed_origins.size(); ++i) out += (i ? ", " : "") + r.allowed_origins[i];
    out += "]";
  }
  for (const auto& limit : r.rate_limits) {
    out += " rate_limit " + std::to_string(limit.requests) + "/" + format_duration(limit.per) + " burst " +
           std::to_string(limit.burst) + " key ";
    for (std::size_t i = 0; i < limit.key.size(); ++i) out += (i ? "+" : "") + std::string(to_string(limit.key[i]));
    if (limit.dry_run) out += " (dry run)";
  }
  if (r.limits.max_request_header_bytes) out += " header limit " + format_size(*r.limits.max_request_header_bytes);
  if (r.limits.max_request_body_bytes) out += " body limit " + format_size(*r.limits.max_request_body_bytes);
  if (!r.mcp) out += " (not mcp)";
  for (const auto* rule : {&r.policy.tools, &r.policy.prompts, &r.policy.resources}) {
    if (rule->empty()) continue;
    const auto last_dot = rule->where.rfind('.');
    out += " " + rule->where.substr(last_dot + 1);
    auto list = [](const std::vector<name_rule::pattern>& patterns) {
      std::string text = "[";
      for (std::size_t i = 0; i < patterns.size(); ++i) text += (i ? ", " : "") + patterns[i].glob;
      return text + "]";
    };
    if (!rule->allow.empty()) out += " allow " + list(rule->allow);
    if (!rule->deny.empty()) out += " deny " + list(rule->deny);
    if (rule->dry_run) out += " (dry run)";
  }
  if (r.auth.enabled()) {
    out += " auth";
    if (r.auth.oauth) {
      out += " oauth(issuer " + r.auth.oauth->issuer + ", audience " + r.auth.oauth->audience;
      if (!r.auth.oauth->scopes.empty()) {
        out += ", scopes";
        for (const auto& scope : r.auth.oauth->scopes) out += " " + scope;
      }
      // The secret's source only, as for upstream_auth.
      if (const auto& i = r.auth.oauth->introspection) {
        out += ", introspection " + i->endpoint + " as " + i->client_id + " (secret from " + i->secret_source + ")";
      }
      out += ")";
    }
    if (r.auth.api_keys) out += " api_keys";
    if (r.auth.client_cert) out += " client_cert";
    out += r.auth.pass_authorization ? ", Authorization passed upstream" : ", Authorization not passed upstream";
  }
  // The credential's source only: its value never reaches a log.
  if (r.upstream_auth) out += " upstream_auth " + r.upstream_auth->header + " from " + r.upstream_auth->source;
  return out;
}

}  // namespace

std::string summarize(const config& cfg) {
  std::ostringstream out;
  out << "config: " << (cfg.source.empty() ? "(string)" : cfg.source) << "\n";
  out << "listeners:\n";
  for (const auto& l : cfg.listeners) out << listener_line(l) << "\n";
  out << "tunnel_domain: " << (cfg.tunnel_domain.empty() ? "(none)" : cfg.tunnel_domain) << "\n";
  if (cfg.tunnel.enabled) {
    out << "tunnel: connector to edge " << cfg.tunnel.edge << ", " << cfg.tunnel.connections
        << " connection(s), token " << cfg.tunnel.token_file << ", streams to "
        << (cfg.tunnel.listener.empty() ? "the first tls/ws listener" : cfg.tunnel.listener) << "\n";
  }
  if (cfg.routes.empty()) {
    out << "routes: (none)\n";
  } else {
    out << "routes:\n";
    for (const auto& r : cfg.routes) out << route_line(r) << "\n";
  }
  const auto& up = cfg.upstream;
  out << "upstream: allowed_ips ";
  if (up.allowed_ips.empty()) out << "(empty)";
  for (std::size_t i = 0; i < up.allowed_ips.size(); ++i) out << (i ? ", " : "") << up.allowed_ips[i].to_string();
  out << (up.allowed_ips_set ? " (set)" : " (default)");
  out << " | validation " << (up.disable_ip_validation ? "off" : "on");
  out << " | tls: ca_file " << (up.ca_file.empty() ? "none" : up.ca_file) << ", system CAs "
      << (up.include_system_cas ? "yes" : "no") << "\n";
  for (const auto& set : cfg.ip_sets) {
    out << "ip_set " << set.name << ":";
    for (const auto& e : set.entries) {
      out << " " << e.prefix.to_string();
      if (e.window.from || e.window.until) {
        out << " [" << (e.window.from ? format_timestamp(*e.window.from) : "") << ".."
            << (e.window.until ? format_timestamp(*e.window.until) : "") << ")";
      }
    }
    out << "\n";
  }
  out << "trusted_proxies: ";
  for (std::size_t i = 0; i < cfg.trusted_proxies.size(); ++i) out << (i ? ", " : "") << cfg.trusted_proxies[i].to_string();
  if (cfg.trusted_proxies.empty()) out << "(none)";
  out << (cfg.trusted_proxies_set ? " (set)" : " (default: ws listeners only)") << "\n";
  const auto& lim = cfg.limits;
  out << "limits: request header " << format_size(lim.max_request_header_bytes) << ", request body "
      << format_size(lim.max_request_body_bytes) << ", response header " << format_size(lim.max_response_header_bytes)
      << ", header timeout " << format_duration(lim.request_header_timeout) << ", body timeout "
      << format_duration(lim.request_body_timeout) << ", keepalive " << format_duration(lim.keepalive_timeout) << "\n";
  if (cfg.audit.enabled) {
    out << "audit: " << (cfg.audit.file.empty() || cfg.audit.file == "-" ? std::string("stdout") : cfg.audit.file)
        << ", arguments " << (cfg.audit.log_arguments ? "logged (max " + format_size(cfg.audit.max_argument_bytes) + ")" : std::string("not logged"))
        << "\n";
  }
  if (cfg.admin.enabled) {
    out << "admin: " << cfg.admin.listen.address << " (/healthz /readyz /metrics /status), metrics "
        << (cfg.admin.metrics ? "on" : "off");
    if (!cfg.admin.allow.empty()) {
      out << ", allow";
      for (const auto& p : cfg.admin.allow) out << " " << p.to_string();
    }
    out << (cfg.admin.key_sha256 ? ", key required" : "") << "\n";
  }
  if (!cfg.api_keys.empty()) {
    out << "api_keys:";
    for (const auto& key : cfg.api_keys) out << " " << key.name;
    out << "\n";
  }
  const auto& logs = cfg.logs;
  if (logs.format || !logs.file.empty() || !logs.access_file.empty()) {
    const auto destination = [](const std::string& file, const char* standard) {
      return file.empty() || file == "-" ? std::string(standard) : file;
    };
    out << "logs: process " << to_string(logs.process_format()) << " to " << destination(logs.file, "stderr")
        << ", access " << to_string(logs.access_format()) << " to " << destination(logs.access_file, "stdout") << "\n";
  }
  out << "log_level: " << to_string(cfg.level) << ", shutdown_timeout: " << format_duration(cfg.shutdown_timeout)
      << ", workers: " << (cfg.workers == 0 ? std::string("auto") : std::to_string(cfg.workers)) << "\n";
  return out.str();
}

}  // namespace mcpgate::config
