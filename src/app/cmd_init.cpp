// `mcpgate init [DIR]`: a complete MCP tunnel deployment directory in one step: CA and
// server certificate, the proxy config in Anthropic's format, .env with the tunnel token,
// and either a hardened docker-compose.yaml or systemd units; then the offline doctor
// checks and the next steps. Re-running never replaces a key, a CA or .env.
#include <CLI/CLI.hpp>

#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "config/loader.hpp"
#include "pki/domain.hpp"
#include "pki/error.hpp"
#include "pki/files.hpp"
#include "pki/issue.hpp"
#include "pki/key.hpp"
#include "pki/pem.hpp"

namespace mcpgate::app {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t max_token_bytes = 8 * 1024;
constexpr const char* hello_compose_upstream = "http://hello:3000";
constexpr const char* hello_local_upstream = "http://127.0.0.1:3000";
// The cloudflared image Anthropic's Compose guide pins.
constexpr const char* cloudflared_image =
    "cloudflare/cloudflared@sha256:6b599ca3e974349ead3286d178da61d291961182ec3fe9c505e1dd02c8ac31b0";

// A usage problem: nothing has been written yet; exit 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct route_arg {
  std::string name;
  std::string upstream;  // scheme://host:port
  std::string host;
};

// ---- input ----------------------------------------------------------------------------

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

bool valid_route_name(const std::string& name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-' || name.front() == '.' ||
      name.back() == '.') {
    return false;
  }
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return false;
    }
  }
  return true;
}

// "name=scheme://host:port", checked enough to say what is wrong in terms of --route;
// the config loader has the last word when the written config is checked.
route_arg parse_route(const std::string& text) {
  const auto eq = text.find('=');
  const std::string shown = "--route \"" + text.substr(0, 200) + "\": ";
  if (eq == std::string::npos) throw usage_error(shown + "expected name=scheme://host:port, e.g. echo=http://10.0.0.5:9000");
  route_arg r;
  for (char c : text.substr(0, eq)) r.name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  r.upstream = text.substr(eq + 1);
  if (!valid_route_name(r.name)) {
    throw usage_error(shown + "the name becomes <name>.<tunnel domain>: letters, digits, '-' and '.' only");
  }
  const auto scheme_end = r.upstream.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : r.upstream.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") throw usage_error(shown + "the upstream must start with http:// or https://");
  const std::string authority = r.upstream.substr(scheme_end + 3);
  const auto colon = authority.rfind(':');
  const std::string port = colon == std::string::npos ? "" : authority.substr(colon + 1);
  r.host = colon == std::string::npos ? "" : authority.substr(0, colon);
  if (r.host.size() >= 2 && r.host.front() == '[' && r.host.back() == ']') r.host = r.host.substr(1, r.host.size() - 2);
  const bool port_ok = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
                       std::stoul(port) >= 1 && std::stoul(port) <= 65535;
  if (r.host.empty() || !port_ok) {
    throw usage_error(shown + "the upstream must be exactly scheme://host:port (port required, no path)");
  }
  for (char c : r.host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_')) {
      throw usage_error(shown + "the upstream must be exactly scheme://host:port (port required, no path)");
    }
  }
  return r;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// A line typed at the terminal, with echo off when `secret`.
std::string prompt(const std::string& question, bool secret) {
  std::fprintf(stderr, "%s", question.c_str());
  std::fflush(stderr);
  termios old{};
  const bool hide = secret && ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (hide) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (hide) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::fprintf(stderr, "\n");
  }
  return trim(line);
}

// The token ends up in .env, read by docker compose and systemd's EnvironmentFile=: one
// line, no quoting, so only characters both read literally. It is never echoed back.
std::string checked_token(std::string token) {
  token = trim(std::move(token));
  if (token.size() > max_token_bytes) throw usage_error("the tunnel token is longer than 8 KiB: is this the right file?");
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\'' || c == '\\' || c == '$' || c == '#' || c == '`') {
      throw usage_error("the tunnel token contains a character a token does not have (a space, a quote, '$', '#' or "
                        "a control character): copy it again from the Console");
    }
  }
  return token;
}

std::string read_token(const init_options& o, bool interactive) {
  if (!o.token_file.empty()) return checked_token(pki::read_file(o.token_file, max_token_bytes));
  if (o.token_stdin) {
    std::string all;
    char buf[4096];
    while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) {
      all.append(buf, static_cast<std::size_t>(std::cin.gcount()));
      if (all.size() > max_token_bytes) throw usage_error("more than 8 KiB on stdin: expected the tunnel token alone");
    }
    return checked_token(all);
  }
  if (interactive) return checked_token(prompt("Tunnel token from the Console (input hidden, Enter to skip): ", true));
  return {};
}

// ---- output files ---------------------------------------------------------------------

std::string fill(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    for (auto pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos + value.size())) {
      text.replace(pos, key.size(), value);
    }
  }
  return text;
}

class scaffold {
 public:
  explicit scaffold(std::string root) : root_(std::move(root)) {}

  std::string path(const std::string& relative) const { return (fs::path(root_) / relative).string(); }
  bool exists(const std::string& relative) const { return fs::exists(path(relative)); }

  // Writes unless the file exists and may not be replaced; says which.
  void write(const std::string& relative, const std::string& content, mode_t mode, bool replace) {
    const bool existed = exists(relative);
    if (existed && !replace) {
      kept(relative);
      return;
    }
    pki::make_directory(fs::path(path(relative)).parent_path().string());
    pki::write_file_atomic(path(relative), content, mode);
    std::printf("%-14s %s\n", existed ? "rewritten" : "created", path(relative).c_str());
  }
  void kept(const std::string& relative) const { std::printf("%-14s %s\n", "exists (kept)", path(relative).c_str()); }
  void created(const std::string& relative) const { std::printf("%-14s %s\n", "created", path(relative).c_str()); }

 private:
  std::string root_;
};

std::string config_yaml(const std::string& domain, const std::vector<route_arg>& routes) {
  std::string out =
      "# The gateway's config, in Anthropic's mcp-proxy format (mcpgate reads it unchanged).\n"
      "# Written by `mcpgate init`. Check it: mcpgate validate config/mcp-proxy.yaml\n"
      "# After editing, reload: docker compose kill -s HUP mcp-proxy (or systemctl reload mcpgate).\n"
      "listen_addr: \":8080\"\n"
      "log_level: info\n"
      "shutdown_timeout: 30s\n"
      "tunnel_domain: " + domain + "\n"
      "tls:\n"
      "  cert_file: /data/tls.crt\n"
      "  key_file: /data/tls.key\n"
      "# One subdomain per route: <name>." + domain + " -> scheme://host:port\n"
      "routes:\n";
  bool loopback = false, https = false;
  for (const auto& r : routes) {
    out += "  " + r.name + ": " + r.upstream + "\n";
    loopback = loopback || is_loopback(r.host);
    https = https || r.upstream.rfind("https://", 0) == 0;
  }
  out += "# upstream.allowed_ips: where upstreams may resolve to (the SSRF defence). The default is\n"
         "# RFC 1918 (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16); setting the key replaces it.\n";
  if (loopback || https) {
    out += "upstream:\n";
    if (loopback) {
      out += "  # 127.0.0.0/8 because a route points at this host's loopback, which the default leaves\n"
             "  # out; the RFC 1918 ranges are listed again because setting the key replaces them.\n"
             "  allowed_ips: [127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n";
    } else {
      out += "  # allowed_ips: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n";
    }
    if (https) {
      out += "  tls:\n"
             "    # https:// routes need a trust anchor: the system CAs, or ca_file: /data/upstream-ca.pem\n"
             "    include_system_cas: true\n";
    }
  } else {
    out += "# upstream:\n"
           "#   allowed_ips: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n"
           "#   tls: { ca_file: /data/upstream-ca.pem, include_system_cas: false }\n";
  }
  return out;
}

// Every service of the Compose file: as Anthropic's hardened reference (non-root uid 65532,
// read-only root, no capabilities, no privilege gain, bounded logs).
constexpr const char* compose_hardening = R"(    user: "65532:65532"
    read_only: true
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    restart: unless-stopped
    logging:
      options:
        max-size: "10m"
        max-file: "3"
)";

constexpr const char* compose_template = R"(# The MCP tunnel stack, written by `mcpgate init`: mcpgate as the proxy (a drop-in for
# Anthropic's mcp-proxy image), cloudflared, and {hello_comment}.
# Start: docker compose up -d   Logs: docker compose logs mcp-proxy cloudflared
#
# Images: {image} is what you built or pulled; for production pin it by digest
# (image: registry.example/mcpgate@sha256:<digest>) so that every host runs the same bytes.
services:
  mcp-proxy:
    image: {image}
    command: ["gateway", "-config", "/etc/mcp-gateway/config.yaml"]
    volumes:
      - ./config/mcp-proxy.yaml:/etc/mcp-gateway/config.yaml:ro
      # data/tls.key is mode 0644 because this container runs as uid 65532 and must read a
      # bind-mounted key it does not own. data/ca.key stays 0600: the proxy never needs it.
      - ./data:/data:ro
    stop_grace_period: 30s
{compose_hardening}
  cloudflared:
    image: {cloudflared_image}
    # --url: no ingress rules are pushed to a manually created tunnel; without it every
    # request fails with "No ingress rules were defined".
    command: tunnel --no-autoupdate run --url http://localhost:8080
    environment:
      - TUNNEL_TOKEN  # from .env
    # Shares the proxy's network namespace, so localhost:8080 is the proxy.
    network_mode: "service:mcp-proxy"
    depends_on: [mcp-proxy]
    stop_grace_period: 30s
{compose_hardening}{hello_service})";

constexpr const char* compose_hello = R"(
  # The sample MCP server behind the `hello` route (tools echo, add, slow); remove it and the
  # route once your own servers are routed.
  hello:
    image: {image}
    command: ["hello", "--listen", "0.0.0.0:3000"]
{compose_hardening})";

// Shared by every unit: no privileges, a read-only system, no kernel tuning, only the
// system calls and socket families a network daemon uses.
constexpr const char* unit_hardening = R"(NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
UMask=0077
)";

constexpr const char* gateway_unit = R"(# mcpgate as the MCP tunnel proxy, written by `mcpgate init`. Install: see README.txt.
[Unit]
Description=mcpgate MCP gateway (tunnel proxy)
Documentation=file://{dir}/README.txt
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
# A dedicated user that owns data/tls.key (mode 0600): `chown mcpgate: data/tls.key`.
# Not DynamicUser= with LoadCredential=: credentials are copied at start, so a renewed key
# would not be seen, and the gateway reloads a renewed certificate without a restart.
User=mcpgate
Group=mcpgate
ExecStart={mcpgate} gateway -config /etc/mcp-gateway/config.yaml
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2s
TimeoutStopSec=35s
# The deployment directory, at the paths the config names (as the container layout mounts it).
ReadOnlyPaths={dir}
BindReadOnlyPaths={dir}/config/mcp-proxy.yaml:/etc/mcp-gateway/config.yaml
BindReadOnlyPaths={dir}/data:/data
# The gateway never needs the CA key.
InaccessiblePaths=-/data/ca.key
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
{hardening}
[Install]
WantedBy=multi-user.target
)";

constexpr const char* hello_unit = R"(# The sample MCP server behind the `hello` route, written by `mcpgate init`.
[Unit]
Description=mcpgate hello (sample MCP server on 127.0.0.1:3000)
After=network.target

[Service]
Type=simple
DynamicUser=yes
ExecStart={mcpgate} hello --listen 127.0.0.1:3000
Restart=on-failure
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
{hardening}
[Install]
WantedBy=multi-user.target
)";

constexpr const char* cloudflared_unit = R"(# cloudflared for the MCP tunnel, written by `mcpgate init`. Needs the cloudflared binary
# (https://github.com/cloudflare/cloudflared/releases) and TUNNEL_TOKEN in {dir}/.env.
[Unit]
Description=cloudflared (MCP tunnel connector to the mcpgate proxy)
After=network-online.target mcpgate.service
Wants=network-online.target

[Service]
Type=simple
DynamicUser=yes
# Read by systemd as root before the service starts; the file stays 0600.
EnvironmentFile={dir}/.env
# --url: no ingress rules are pushed to a manually created tunnel.
ExecStart={cloudflared} tunnel --no-autoupdate run --url http://localhost:8080
Restart=on-failure
RestartSec=5s
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
{hardening}
[Install]
WantedBy=multi-user.target
)";

std::string env_file(const std::string& domain, const std::string& token) {
  std::string out =
      "# Secrets of this deployment, read by docker compose and by systemd (EnvironmentFile=).\n"
      "# Mode 0600, ignored by git. Never commit it.\n"
      "TUNNEL_DOMAIN=" + domain + "\n"
      "# The tunnel token: Console > Manage > MCP tunnels > your tunnel > Show token.\n";
  if (token.empty()) out += "# Not given to `mcpgate init`: paste it after the = sign.\n";
  return out + "TUNNEL_TOKEN=" + token + "\n";
}

std::string readme(const init_options& o, const std::string& dir, const std::string& domain,
                   const std::vector<route_arg>& routes, bool compose) {
  const std::string first = routes.front().name;
  std::string out =
      "MCP tunnel deployment, written by `mcpgate init` (layout: " + o.layout + ").\n\n"
      "Files\n"
      "  config/mcp-proxy.yaml  the gateway config (Anthropic's mcp-proxy format)\n"
      "  data/ca.crt            the CA to register on the tunnel\n"
      "  data/ca.key            the CA key (0600): keep it private and backed up; the gateway never reads it\n"
      "  data/tls.crt, tls.key  the gateway's server certificate for " + domain + " and *." + domain + "\n"
      "  .env                   TUNNEL_DOMAIN and TUNNEL_TOKEN (secret, 0600, git-ignored)\n";
  out += compose ? "  docker-compose.yaml    mcp-proxy (mcpgate) + cloudflared" + std::string(o.routes.empty() ? " + hello" : "") + "\n"
                 : "  systemd/               mcpgate.service, cloudflared.service" +
                       std::string(o.routes.empty() ? ", mcpgate-hello.service" : "") + "\n";
  out += "\nNext steps\n"
         " 1. Console > Manage > MCP tunnels > your tunnel: upload data/ca.crt. The tunnel shows\n"
         "    \"Active\" once a CA is registered (Anthropic does not connect before that).\n"
         " 2. If .env has no TUNNEL_TOKEN yet, paste the tunnel token there.\n";
  if (compose) {
    out += " 3. docker compose up -d\n"
           "    docker compose logs mcp-proxy   -> one \"route configured\" line per route\n"
           "    docker compose logs cloudflared -> four \"Registered tunnel connection\" lines\n";
  } else {
    out += " 3. Install (as root). Keep this directory outside /home (the units use ProtectHome=yes):\n"
           "      useradd --system --no-create-home --shell /usr/sbin/nologin mcpgate\n"
           "      chown mcpgate:mcpgate " + dir + "/data/tls.key\n"
           "      cp " + dir + "/systemd/*.service /etc/systemd/system/ && systemctl daemon-reload\n"
           "      systemctl enable --now mcpgate" + std::string(o.routes.empty() ? " mcpgate-hello" : "") + " cloudflared\n"
           "      journalctl -u mcpgate -u cloudflared\n";
  }
  out += " 4. Call it from the Messages API (header anthropic-beta: mcp-client-2025-11-20):\n"
         "      \"mcp_servers\": [{\"type\":\"url\",\"url\":\"https://" + first + "." + domain + "/mcp\",\"name\":\"" + first + "\"}],\n"
         "      \"tools\": [{\"type\":\"mcp_toolset\",\"mcp_server_name\":\"" + first + "\"}]\n"
         " 5. Renew the server certificate (90 days) before it expires, e.g. daily from cron:\n"
         "      mcpgate certs renew --ca " + dir + "/data --out " + dir + "/data --renew-before 720h\n"
         "    The gateway reloads it by itself.\n"
         " 6. Check the deployment at any time:\n"
         "      mcpgate doctor --config " + dir + "/config/mcp-proxy.yaml --data-dir " + dir + "/data" +
         (compose ? " --as-user 65532" : "") + "\n"
         "\nMore: docs/certs.md (certificates, rotation) in the mcpgate sources.\n";
  return out;
}

std::string self_path() {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/usr/local/bin/mcpgate") : exe.string();
}

// ---- the steps ------------------------------------------------------------------------

void write_ca(scaffold& out) {
  if (out.exists("data/ca.key")) {
    if (!out.exists("data/ca.crt")) {
      throw pki::error(out.path("data/ca.key"), "exists without data/ca.crt: restore ca.crt from your backup (or "
                                                 "move ca.key away to make a new CA, which must then be registered)");
    }
    out.kept("data/ca.key");
    out.kept("data/ca.crt");
    return;
  }
  const pki::issued ca = pki::generate_ca({});
  pki::make_directory(out.path("data"));
  pki::write_key_file(out.path("data/ca.key"), ca.key_pem, 0600);
  out.created("data/ca.key");
  out.write("data/ca.crt", ca.cert_pem, pki::cert_file_mode, true);
}

void write_server_cert(scaffold& out, const std::string& domain, pki::key_type key, mode_t key_mode) {
  if (out.exists("data/tls.key")) {
    out.kept("data/tls.key");
    if (out.exists("data/tls.crt")) out.kept("data/tls.crt");
    else std::printf("note: data/tls.key exists without tls.crt: run mcpgate certs renew --ca %s --out %s --domain %s\n",
                     out.path("data").c_str(), out.path("data").c_str(), domain.c_str());
    return;
  }
  pki::server_options options;
  options.domain = domain;
  options.key = key;
  const pki::issued server = pki::issue_server_cert(pki::load_ca_dir(out.path("data")), options);
  pki::write_key_file(out.path("data/tls.key"), server.key_pem, key_mode);  // key first: see certs server
  out.created("data/tls.key");
  out.write("data/tls.crt", server.cert_pem, pki::cert_file_mode, true);
}

int init(const init_options& o) {
  if (!o.token_on_argv.empty()) {
    throw usage_error("the tunnel token is never taken from the command line (ps and shell history would show it): "
                      "use --token-file FILE or --token-stdin");
  }
  if (o.token_stdin && !o.token_file.empty()) throw usage_error("give either --token-file or --token-stdin");
  if (o.layout != "compose" && o.layout != "systemd") throw usage_error("--layout must be compose or systemd");
  const bool compose = o.layout == "compose";
  const bool interactive = ::isatty(STDIN_FILENO) == 1 && !o.token_stdin;

  std::string domain_text = o.tunnel_domain;
  if (domain_text.empty() && interactive) {
    domain_text = prompt("Tunnel domain from the Console (e.g. abcd1234.tunnel.anthropic.com): ", false);
  }
  if (domain_text.empty()) {
    throw usage_error("--tunnel-domain is required: the domain the Console shows for the tunnel, e.g. "
                      "abcd1234.tunnel.anthropic.com");
  }
  std::string domain;
  try {
    domain = pki::normalize_domain(domain_text);
  } catch (const pki::error& e) {
    throw usage_error(std::string("--tunnel-domain: ") + e.what());
  }
  const pki::key_type key = o.key_type.empty() ? pki::key_type::rsa_4096 : [&] {
    if (auto k = pki::parse_key_type(o.key_type)) return *k;
    throw usage_error("unknown --key-type \"" + o.key_type + "\" (expected one of " + pki::key_type_names() + ")");
  }();

  std::vector<route_arg> routes;
  for (const auto& text : o.routes) {
    route_arg r = parse_route(text);
    for (const auto& other : routes) {
      if (other.name == r.name) throw usage_error("--route " + r.name + " is given twice");
    }
    routes.push_back(std::move(r));
  }
  const bool hello = routes.empty();
  if (hello) {
    const std::string upstream = compose ? hello_compose_upstream : hello_local_upstream;
    routes.push_back({"hello", upstream, compose ? "hello" : "127.0.0.1"});
  }
  for (const auto& r : routes) {
    if (compose && is_loopback(r.host)) {
      std::fprintf(stderr, "warning: route %s points at %s: inside the mcp-proxy container that is the container "
                           "itself; use a Compose service name or the host's address\n",
                   r.name.c_str(), r.host.c_str());
    }
  }
  const std::string token = read_token(o, interactive);

  const std::string dir = fs::absolute(o.dir).lexically_normal().string();
  if (!compose && dir.rfind("/home/", 0) == 0) {
    std::fprintf(stderr, "warning: %s is under /home, which the units hide (ProtectHome=yes): prefer /srv or /opt\n",
                 dir.c_str());
  }
  pki::make_directory(dir);
  scaffold out(dir);

  write_ca(out);
  // The container reads the key as uid 65532 through a bind mount (see docker-compose.yaml);
  // under systemd the key is chown'ed to the service user and stays 0600.
  write_server_cert(out, domain, key, compose ? 0644 : 0600);

  if (out.exists("config/mcp-proxy.yaml") && !o.force_config) {
    const auto existing = config::load_file(out.path("config/mcp-proxy.yaml"));
    if (existing.ok() && existing.snapshot->tunnel_domain != domain) {
      std::printf("note: config/mcp-proxy.yaml keeps tunnel_domain %s (--force-config rewrites it)\n",
                  existing.snapshot->tunnel_domain.c_str());
    }
  }
  out.write("config/mcp-proxy.yaml", config_yaml(domain, routes), 0644, o.force_config);

  if (out.exists(".env") && !token.empty()) {
    out.kept(".env");
    if (pki::read_file(out.path(".env"), 64 * 1024).find("\nTUNNEL_TOKEN=" + token + "\n") == std::string::npos) {
      std::printf("note: .env exists, so the token given was not written: edit TUNNEL_TOKEN in .env yourself\n");
    }
  } else {
    out.write(".env", env_file(domain, token), 0600, false);
  }
  out.write(".gitignore", "# Secrets and key material stay out of version control.\n.env\ndata/\n", 0644, false);

  const std::map<std::string, std::string> values{
      {"{image}", o.image},
      {"{cloudflared_image}", cloudflared_image},
      {"{compose_hardening}", compose_hardening},
      {"{dir}", dir},
      {"{mcpgate}", self_path()},
      {"{cloudflared}", "/usr/local/bin/cloudflared"},
      {"{hello_comment}", hello ? "the sample MCP server behind the hello route" : "no sample server"},
  };
  if (compose) {
    const std::string hello_service = hello ? fill(compose_hello, values) : "";
    auto with_hello = values;
    with_hello["{hello_service}"] = hello_service;
    out.write("docker-compose.yaml", fill(compose_template, with_hello), 0644, o.force_config);
  } else {
    auto with_hardening = values;
    with_hardening["{hardening}"] = unit_hardening;
    out.write("systemd/mcpgate.service", fill(gateway_unit, with_hardening), 0644, o.force_config);
    if (hello) out.write("systemd/mcpgate-hello.service", fill(hello_unit, with_hardening), 0644, o.force_config);
    out.write("systemd/cloudflared.service", fill(cloudflared_unit, with_hardening), 0644, o.force_config);
  }
  const std::string next = readme(o, dir, domain, routes, compose);
  out.write("README.txt", next, 0644, o.force_config);

  std::printf("\nchecks (offline; `mcpgate doctor` also checks upstreams and ports where the gateway runs):\n");
  std::fflush(stdout);
  doctor_options checks;
  checks.config_path = out.path("config/mcp-proxy.yaml");
  checks.data_dir = out.path("data");
  checks.offline = true;
  if (compose) checks.as_user = "65532";
  const int doctor_status = run_doctor(checks);

  std::printf("\n%s", next.substr(next.find("Next steps")).c_str());
  return doctor_status;
}

}  // namespace

CLI::App* add_init_command(CLI::App& app, init_options& o) {
  auto* init = app.add_subcommand("init", "Scaffold an MCP tunnel deployment: certificates, config, .env, Compose or systemd");
  init->add_option("dir", o.dir, "Directory to create or complete")->capture_default_str();
  init->add_option("--tunnel-domain", o.tunnel_domain, "The tunnel's domain from the Console (asked when interactive)");
  init->add_option("--route", o.routes, "name=scheme://host:port, repeatable (default: hello, the built-in sample server)");
  init->add_option("--token-file", o.token_file, "Read the tunnel token from this file");
  init->add_flag("--token-stdin", o.token_stdin, "Read the tunnel token from stdin");
  // Accepted only to refuse it with the reason: a token in argv is visible to every user.
  init->add_option("--token", o.token_on_argv, "Refused: use --token-file or --token-stdin")->group("");
  init->add_option("--layout", o.layout, "compose (Docker Compose) or systemd")->capture_default_str();
  init->add_option("--image", o.image, "mcpgate image for Compose (pin it by digest in production)")->capture_default_str();
  init->add_option("--key-type", o.key_type, "Server key type: " + pki::key_type_names() + " (default rsa-4096)");
  init->add_flag("--force-config", o.force_config, "Rewrite config, Compose/systemd files and README.txt (never keys or .env)");
  return init;
}

int run_init(const init_options& options) {
  try {
    return init(options);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "mcpgate init: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcpgate init: %s\n", e.what());
    return 1;
  }
}

}  // namespace mcpgate::app
