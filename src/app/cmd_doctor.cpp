// `mcpgate doctor`: preflight and diagnosis of a deployment, one line per check, each
// non-PASS with the fix. It is the troubleshooting table of Anthropic's MCP tunnel docs
// turned into code: config errors, unreadable keys (the uid 65532 container case), a key
// that is not the certificate's, a certificate that does not cover the routes, upstreams
// outside upstream.allowed_ips (in the proxy's own words), upstreams that do not answer,
// listen ports in use, and no way out to the tunnel edge.
#include <CLI/CLI.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <dirent.h>
#include <unistd.h>

#include "app/commands.hpp"
#include "config/loader.hpp"
#include "net/ip_prefix.hpp"
#include "net/listen.hpp"
#include "net/tls_context.hpp"
#include "pki/error.hpp"
#include "pki/files.hpp"
#include "pki/inspect.hpp"
#include "pki/pem.hpp"
#include "stdio/child_process.hpp"

namespace mcpgate::app {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using std::chrono::milliseconds;

constexpr std::size_t max_key_bytes = 64 * 1024;
constexpr std::size_t max_addresses_tried = 4;

class report {
 public:
  void pass(const std::string& check, const std::string& detail) { line(pki::check_status::pass, check, detail, {}); }
  void warn(const std::string& check, const std::string& detail, const std::string& fix) {
    line(pki::check_status::warn, check, detail, fix);
  }
  void fail(const std::string& check, const std::string& detail, const std::string& fix) {
    line(pki::check_status::fail, check, detail, fix);
  }
  // inspect's results, each name prefixed ("tls cert validity").
  void add(const std::string& prefix, const std::vector<pki::check_result>& results) {
    for (const auto& r : results) line(r.status, prefix + r.name, r.detail, r.fix);
  }
  int finish() const {
    std::printf("doctor: %u passed, %u warning%s, %u failed\n", passed_, warned_, warned_ == 1 ? "" : "s", failed_);
    std::fflush(stdout);
    return failed_ == 0 ? 0 : 1;
  }

 private:
  void line(pki::check_status status, const std::string& check, const std::string& detail, const std::string& fix) {
    std::printf("%s %s: %s\n", pki::to_string(status), check.c_str(), detail.c_str());
    if (status != pki::check_status::pass && !fix.empty()) std::printf("  fix: %s\n", fix.c_str());
    (status == pki::check_status::pass ? passed_ : status == pki::check_status::warn ? warned_ : failed_) += 1;
  }
  unsigned passed_ = 0, warned_ = 0, failed_ = 0;
};

std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

// ---- bounded network probes -----------------------------------------------------------

// Runs `io` until the started operation calls back or `limit` passes; on timeout `cancel`
// aborts it and the handler is run to completion before returning.
template <class Cancel>
bool run_until(asio::io_context& io, const bool& done, milliseconds limit, Cancel&& cancel) {
  io.run_for(limit);
  if (done) return true;
  cancel();
  io.restart();
  io.run();
  return false;
}

struct resolved {
  std::vector<tcp::endpoint> endpoints;
  std::string error;  // empty on success
};

resolved resolve(const std::string& host, std::uint16_t port, milliseconds limit) {
  resolved out;
  error_code ec;
  const auto literal = asio::ip::make_address(host, ec);
  if (!ec) {
    out.endpoints.emplace_back(literal, port);
    return out;
  }
  asio::io_context io;
  tcp::resolver resolver(io);
  bool done = false;
  resolver.async_resolve(host, std::to_string(port), [&](const error_code& e, const tcp::resolver::results_type& r) {
    done = true;
    if (e) out.error = e.message();
    for (const auto& entry : r) out.endpoints.push_back(entry.endpoint());
  });
  if (!run_until(io, done, limit, [&] { resolver.cancel(); })) out.error = "no answer within " + ms_text(limit);
  return out;
}

// "" when a TCP connection to `ep` was established within `limit`, else the reason.
std::string try_connect(const tcp::endpoint& ep, milliseconds limit, milliseconds& took) {
  asio::io_context io;
  tcp::socket socket(io);
  bool done = false;
  error_code result;
  const auto start = std::chrono::steady_clock::now();
  socket.async_connect(ep, [&](const error_code& e) {
    done = true;
    result = e;
  });
  if (!run_until(io, done, limit, [&] { socket.close(); })) return "no answer within " + ms_text(limit);
  took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  return result ? result.message() : std::string();
}

// "" when a TLS handshake with `host` at `ep` verified within `limit` (the configured trust,
// SNI and host-name check, as the gateway dials), else the reason.
std::string try_tls(const tcp::endpoint& ep, const std::string& host, const config::upstream_settings& upstream,
                    milliseconds limit) {
  std::shared_ptr<asio::ssl::context> ctx;
  try {
    ctx = net::make_upstream_tls_context(upstream);
  } catch (const std::exception& e) {
    return e.what();
  }
  asio::io_context io;
  asio::ssl::stream<tcp::socket> stream(io, *ctx);
  error_code not_ip;
  (void)asio::ip::make_address(host, not_ip);
  // SNI carries host names only (RFC 6066); an IP literal is checked against IP SANs.
  if (not_ip && SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()) != 1) return "cannot set SNI " + host;
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  bool done = false;
  error_code result;
  stream.lowest_layer().async_connect(ep, [&](const error_code& e) {
    if (e) {
      done = true;
      result = e;
      return;
    }
    stream.async_handshake(asio::ssl::stream_base::client, [&](const error_code& h) {
      done = true;
      result = h;
    });
  });
  if (!run_until(io, done, limit, [&] { stream.lowest_layer().close(); })) return "no handshake within " + ms_text(limit);
  return result ? result.message() : std::string();
}

// Best effort: "pid 123 (mcpgate)" for the process listening on TCP `port`, from /proc
// (only processes this user may inspect; bounded so a busy host cannot stall doctor).
std::string listener_owner(std::uint16_t port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    for (int n = 0; n < 65536 && std::getline(in, line); ++n) {
      char local[64] = {}, remote[64] = {}, state[8] = {};
      unsigned long inode = 0;
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (std::sscanf(line.c_str(), "%*s %63s %63s %7s %*s %*s %*s %*s %*s %lu", local, remote, state, &inode) != 4) {
        continue;
      }
      const char* colon = std::strrchr(local, ':');
      if (colon == nullptr || std::strcmp(state, "0A") != 0) continue;  // 0A = LISTEN
      if (std::strtoul(colon + 1, nullptr, 16) == port && inode != 0) inodes.insert("socket:[" + std::to_string(inode) + "]");
    }
  }
  if (inodes.empty()) return {};
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return {};
  std::string owner;
  int pids = 0;
  for (dirent* e = ::readdir(proc); e != nullptr && owner.empty() && pids < 65536; e = ::readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    ++pids;
    const std::string fd_dir = std::string("/proc/") + e->d_name + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    int count = 0;
    for (dirent* f = ::readdir(fds); f != nullptr && count < 65536; f = ::readdir(fds), ++count) {
      char target[64] = {};
      const ssize_t n = ::readlink((fd_dir + "/" + f->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0 || inodes.count(std::string(target, static_cast<std::size_t>(n))) == 0) continue;
      std::ifstream comm(std::string("/proc/") + e->d_name + "/comm");
      std::string name;
      std::getline(comm, name);
      owner = std::string("pid ") + e->d_name + " (" + name.substr(0, 64) + ")";
      break;
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return owner;
}

// ---- the checks ---------------------------------------------------------------------

struct context {
  const doctor_options& options;
  report& out;
  milliseconds timeout;
  std::optional<std::pair<uid_t, gid_t>> as_user;

  // Where a path of the config is on this machine: under --data-dir for /data/...
  std::string host_path(const std::string& path) const {
    if (options.data_dir.empty() || path.rfind("/data/", 0) != 0) return path;
    return (std::filesystem::path(options.data_dir) / path.substr(6)).string();
  }
  std::string shown(const std::string& path) const {
    const std::string local = host_path(path);
    return local == path ? path : path + " (here " + local + ")";
  }
};

// The host names clients use for each route: "<key>.<tunnel_domain>" for bare subdomain
// keys, the key itself for full host names; the catch-all "*" has none.
std::vector<std::string> route_hostnames(const config::config& cfg) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& r : cfg.routes) {
    if (r.host_key == "*" || r.host_key.empty()) continue;
    const bool full = cfg.tunnel_domain.empty() || r.host_key == cfg.tunnel_domain ||
                      (r.host_key.size() > cfg.tunnel_domain.size() &&
                       r.host_key.compare(r.host_key.size() - cfg.tunnel_domain.size() - 1, std::string::npos,
                                          "." + cfg.tunnel_domain) == 0);
    const std::string host = full ? r.host_key : r.host_key + "." + cfg.tunnel_domain;
    if (seen.insert(host).second) out.push_back(host);
  }
  return out;
}

void check_tls_files(const context& cx, const config::config& cfg, const config::tls_files& files) {
  report& out = cx.out;
  const std::string cert_file = cx.host_path(files.cert_file);
  const std::string key_file = cx.host_path(files.key_file);
  const std::string key_fix = "make it readable by the gateway's user: in the Compose layout `chmod 644 " + key_file +
                              "` (the proxy runs as uid 65532), else chown it to the service user";

  std::string cert_pem, key_pem;
  try {
    cert_pem = pki::read_file(cert_file, pki::max_pem_file_bytes);
    out.pass("tls cert readable", cx.shown(files.cert_file));
  } catch (const pki::error& e) {
    out.fail("tls cert readable", e.what(), "create it (mcpgate certs server) or correct tls.cert_file");
  }
  try {
    key_pem = pki::read_file(key_file, max_key_bytes);
    out.pass("tls key readable", cx.shown(files.key_file));
  } catch (const pki::error& e) {
    out.fail("tls key readable", e.what(),
             e.code() == EACCES ? key_fix : "create it (mcpgate certs server) or correct tls.key_file");
  }
  if (cx.as_user) {
    const auto [uid, gid] = *cx.as_user;
    for (const auto& [what, path] : {std::pair{"cert", cert_file}, std::pair{"key", key_file}}) {
      const auto answer = pki::readable_by(path, uid, gid);
      const std::string check = std::string("tls ") + what + " readable by uid " + std::to_string(uid);
      if (answer.readable) out.pass(check, answer.detail);
      else out.fail(check, answer.detail, std::string(what) == "key" ? key_fix : "chmod 644 " + path);
    }
  }
  if (!cert_pem.empty() && !key_pem.empty()) {
    try {
      if (pki::key_matches_cert(cert_pem, key_pem, cert_file, key_file)) {
        out.pass("tls key matches cert", "the key is the certificate's");
      } else {
        out.fail("tls key matches cert", key_file + " is not the key of " + cert_file,
                 "install the key issued with this certificate, or issue both again (mcpgate certs server)");
      }
    } catch (const pki::error& e) {
      out.fail("tls key matches cert", e.what(), "issue the certificate and key again (mcpgate certs server)");
    }
  }
  if (cert_pem.empty()) return;

  // The CA the certificate must chain to: --ca, else ca.crt beside the certificate.
  std::string ca_file = cx.options.ca_file;
  if (ca_file.empty()) {
    const auto beside = std::filesystem::path(cert_file).parent_path() / "ca.crt";
    std::error_code ec;
    if (std::filesystem::exists(beside, ec)) ca_file = beside.string();
  }
  std::string ca_pem;
  if (!ca_file.empty()) {
    try {
      ca_pem = pki::read_file(ca_file, pki::max_pem_file_bytes);
    } catch (const pki::error& e) {
      out.warn("ca readable", e.what(), "pass the registered CA certificate with --ca");
    }
  }
  pki::inspect_options options;
  options.domain = cfg.tunnel_domain;
  options.hostnames = route_hostnames(cfg);
  out.add("tls cert ", pki::inspect_server(cert_pem, ca_pem, options));
  if (!ca_pem.empty()) out.add("ca ", pki::inspect_ca(ca_pem));
}

// `up`: the route's upstream, or one of its `upstreams` (then named in the check).
void check_route(const context& cx, const config::config& cfg, const config::route& r, const net::ip_prefix_set& allowed,
                 const config::upstream_target& up) {
  report& out = cx.out;
  const std::string name = "route " + r.name + (r.instances.empty() ? std::string() : " " + up.to_string());
  if (r.stdio) {
    // A local process: nothing to resolve or dial; what can fail is finding and starting it.
    try {
      out.pass(name + " program", stdio::find_program(*r.stdio) + (r.stdio->user.empty() ? "" : " as user " + r.stdio->user));
    } catch (const stdio::spawn_error& e) {
      out.fail(name + " program", e.what(),
               "install it where the gateway runs, or give its full path in routes." + r.host_key + ".upstream");
    }
    return;
  }
  const resolved addresses = resolve(up.host, up.port, cx.timeout);
  if (!addresses.error.empty() || addresses.endpoints.empty()) {
    out.fail(name + " resolve", up.host + ": " + (addresses.error.empty() ? "no addresses" : addresses.error),
             "the upstream's name must resolve where the gateway runs (in Compose: a service on the same network)");
    return;
  }
  std::vector<tcp::endpoint> permitted;
  for (const auto& ep : addresses.endpoints) {
    const auto address = net::unmapped(ep.address());
    if (cfg.upstream.disable_ip_validation || allowed.contains(address)) {
      permitted.push_back(ep);
    } else {
      // The exact words of Anthropic's proxy, so a search for its log line finds this.
      out.fail(name + " allowed_ips", "IP validation failed: " + address.to_string() + " is not a private address",
               "run the upstream on the gateway's network, or add the narrowest CIDR holding " + address.to_string() +
                   " to upstream.allowed_ips (setting it replaces the RFC 1918 default: list the ranges you still need)");
    }
  }
  if (permitted.empty()) return;
  if (permitted.size() == addresses.endpoints.size()) {
    std::string list;
    for (const auto& ep : permitted) list += (list.empty() ? "" : ", ") + net::unmapped(ep.address()).to_string();
    if (list != up.host) list = up.host + " -> " + list;
    out.pass(name + " allowed_ips", list + (cfg.upstream.disable_ip_validation ? " (IP validation disabled)"
                                                                                : " inside upstream.allowed_ips"));
  }

  std::string last_error;
  for (std::size_t i = 0; i < permitted.size() && i < max_addresses_tried; ++i) {
    milliseconds took{0};
    last_error = try_connect(permitted[i], cx.timeout, took);
    if (!last_error.empty()) {
      last_error = net::endpoint_text(permitted[i]) + ": " + last_error;
      continue;
    }
    out.pass(name + " connect", net::endpoint_text(permitted[i]) + " answered in " + ms_text(took));
    if (up.tls()) {
      const std::string tls_error = try_tls(permitted[i], up.host, cfg.upstream, cx.timeout);
      if (tls_error.empty()) {
        out.pass(name + " tls", "handshake with " + up.host + " verified");
      } else {
        out.fail(name + " tls", net::endpoint_text(permitted[i]) + ": " + tls_error,
                 "trust the upstream's CA (upstream.tls.ca_file or include_system_cas) and make its certificate "
                 "cover " + up.host);
      }
    }
    return;
  }
  out.fail(name + " connect", last_error, "start the upstream, or correct routes." + r.host_key + " (scheme://host:port)");
}

void check_listener(const context& cx, const config::listener& l) {
  report& out = cx.out;
  const std::string name = "listen " + l.address;
  if (l.port == 0) {
    out.pass(name, "port 0: any free port");
    return;
  }
  tcp::endpoint ep(asio::ip::address_v6::any(), l.port);  // "" = every interface, as the gateway binds
  if (!l.bind_host.empty()) {
    const resolved r = resolve(l.bind_host, l.port, cx.timeout);
    if (!r.error.empty() || r.endpoints.empty()) {
      out.fail(name, "cannot resolve " + l.bind_host + ": " + r.error, "correct the listen address");
      return;
    }
    ep = r.endpoints.front();
  }
  asio::io_context io;
  tcp::acceptor probe(io);
  const error_code ec = net::bind_acceptor(probe, ep, false);  // as the gateway's own probe
  if (!ec) {
    out.pass(name, net::endpoint_text(ep) + " is free");
  } else if (ec == asio::error::address_in_use) {
    const std::string owner = listener_owner(l.port);
    out.fail(name, "port " + std::to_string(l.port) + " is already in use" + (owner.empty() ? "" : " by " + owner),
             "stop what listens there (a gateway already running counts) or change the listen address");
  } else if (ec == asio::error::access_denied) {
    out.fail(name, "port " + std::to_string(l.port) + ": " + ec.message(),
             "use a port >= 1024, or grant CAP_NET_BIND_SERVICE");
  } else {
    out.fail(name, net::endpoint_text(ep) + ": " + ec.message(), "listen on an address this host has");
  }
}

void check_edge(const context& cx) {
  const std::string& edge = cx.options.edge;
  const std::string name = "edge " + edge;
  const std::string fix =
      "allow outbound TCP and UDP 7844 to the tunnel edge (198.41.192.0/19, 2606:4700:a0::/44 for Anthropic's "
      "tunnels) in host and network firewalls";
  const auto colon = edge.rfind(':');
  unsigned port = 0;
  const char* end = edge.data() + edge.size();
  std::string host = colon == std::string::npos ? std::string() : edge.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (colon == std::string::npos || host.empty() ||
      std::from_chars(edge.data() + colon + 1, end, port).ptr != end || port == 0 || port > 65535) {
    cx.out.fail(name, "expected HOST:PORT, e.g. region1.v2.argotunnel.com:7844", "give --edge HOST:PORT");
    return;
  }
  const resolved r = resolve(host, static_cast<std::uint16_t>(port), cx.timeout);
  if (!r.error.empty() || r.endpoints.empty()) {
    cx.out.fail(name, "cannot resolve " + host + ": " + r.error, "check DNS on this host");
    return;
  }
  std::string last_error;
  for (std::size_t i = 0; i < r.endpoints.size() && i < max_addresses_tried; ++i) {
    milliseconds took{0};
    last_error = try_connect(r.endpoints[i], cx.timeout, took);
    if (last_error.empty()) {
      cx.out.pass(name, "connected to " + net::endpoint_text(r.endpoints[i]) + " in " + ms_text(took));
      return;
    }
    last_error = net::endpoint_text(r.endpoints[i]) + ": " + last_error;
  }
  cx.out.fail(name, last_error, fix);
}

std::optional<std::pair<uid_t, gid_t>> parse_user(const std::string& text) {
  if (text.empty()) return std::nullopt;
  const auto colon = text.find(':');
  const std::string uid_text = text.substr(0, colon);
  const std::string gid_text = colon == std::string::npos ? uid_text : text.substr(colon + 1);
  unsigned long uid = 0, gid = 0;
  const auto number = [](const std::string& s, unsigned long& v) {
    return !s.empty() && std::from_chars(s.data(), s.data() + s.size(), v).ptr == s.data() + s.size() && v < 0xffffffffUL;
  };
  if (!number(uid_text, uid) || !number(gid_text, gid)) {
    throw pki::error("", "--as-user \"" + text + "\": expected UID or UID:GID, e.g. 65532");
  }
  return std::pair{static_cast<uid_t>(uid), static_cast<gid_t>(gid)};
}

}  // namespace

CLI::App* add_doctor_command(CLI::App& app, doctor_options& o) {
  auto* doctor = app.add_subcommand("doctor", "Check a deployment: config, certificate and key, upstreams, ports, edge");
  doctor->add_option("-c,--config", o.config_path, "Config file")->capture_default_str();
  doctor->add_option("--tunnel-domain", o.tunnel_domain, "Overrides the tunnel_domain key");
  doctor->add_option("--edge", o.edge, "Also check outbound TCP to HOST:PORT (the tunnel edge, port 7844)");
  doctor->add_option("--as-user", o.as_user, "Also check the key and certificate are readable by UID[:GID] (65532 in the container)");
  doctor->add_option("--data-dir", o.data_dir, "Read files the config names under /data/ from this directory (the host side of the bind mount)");
  doctor->add_option("--ca", o.ca_file, "The registered CA certificate (default: ca.crt beside tls.cert_file)");
  doctor->add_option("--timeout", o.timeout_ms, "Per-probe timeout in milliseconds")->capture_default_str();
  return doctor;
}

int run_doctor(const doctor_options& options) {
  report out;
  std::optional<std::pair<uid_t, gid_t>> as_user;
  try {
    as_user = parse_user(options.as_user);
  } catch (const pki::error& e) {
    std::fprintf(stderr, "mcpgate doctor: %s\n", e.what());
    return 2;
  }

  config::overrides over;
  over.tunnel_domain = options.tunnel_domain;
  const auto loaded = config::load_file(options.config_path, over);
  const std::string fix = "correct " + options.config_path + " (mcpgate validate lists every error with its line)";
  for (const auto& d : loaded.diagnostics) {
    if (d.level == config::diagnostic::severity::error) out.fail("config", d.to_string(), fix);
    else out.warn("config", d.to_string(), fix);
  }
  if (!loaded.ok()) return out.finish();
  const config::config& cfg = *loaded.snapshot;
  out.pass("config", options.config_path + ": " + std::to_string(cfg.routes.size()) + " route" +
                         (cfg.routes.size() == 1 ? "" : "s") + ", " + std::to_string(cfg.listeners.size()) +
                         " listener" + (cfg.listeners.size() == 1 ? "" : "s") +
                         (cfg.tunnel_domain.empty() ? "" : ", tunnel_domain " + cfg.tunnel_domain));

  const context cx{options, out, milliseconds(options.timeout_ms > 0 ? options.timeout_ms : 3000), as_user};
  std::set<std::pair<std::string, std::string>> tls_seen;
  for (const auto& l : cfg.listeners) {
    if (l.tls.empty() || !tls_seen.insert({l.tls.cert_file, l.tls.key_file}).second) continue;
    check_tls_files(cx, cfg, l.tls);
  }
  if (!options.offline) {
    const net::ip_prefix_set allowed(cfg.upstream.allowed_ips);
    for (const auto& r : cfg.routes) {
      for (const auto& target : r.targets()) check_route(cx, cfg, r, allowed, target);
    }
    for (const auto& l : cfg.listeners) check_listener(cx, l);
    if (!options.edge.empty()) check_edge(cx);
  }
  return out.finish();
}

}  // namespace mcpgate::app
