// `mcpgate certs ca|server|renew|inspect`: the certificates an MCP tunnel needs, made
// without the openssl CLI and checked against the documented requirements.
#include <CLI/CLI.hpp>

#include <boost/json.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "config/units.hpp"
#include "pki/domain.hpp"
#include "pki/error.hpp"
#include "pki/files.hpp"
#include "pki/inspect.hpp"
#include "pki/issue.hpp"
#include "pki/key.hpp"
#include "pki/pem.hpp"

namespace mcpgate::app {
namespace {

namespace fs = std::filesystem;

std::string join_path(const std::string& dir, const char* name) { return (fs::path(dir) / name).string(); }

std::string octal(int mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode) & 07777u);
  return buf;
}

pki::key_type key_type_or(const std::string& text, pki::key_type fallback) {
  if (text.empty()) return fallback;
  if (auto type = pki::parse_key_type(text)) return *type;
  throw pki::error("", "unknown --key-type \"" + text + "\" (expected one of " + pki::key_type_names() + ")");
}

// The explicit --group-readable / --world-readable choice, if any.
std::optional<mode_t> requested_key_mode(const certs_options::key_mode_flags& flags) {
  if (flags.world_readable) return pki::mode_of(pki::key_access::world);
  if (flags.group_readable) return pki::mode_of(pki::key_access::group);
  return std::nullopt;
}

void warn_world_readable(const std::string& key_file, mode_t mode) {
  if ((mode & 0004) == 0) return;
  std::fprintf(stderr,
               "warning: %s is world-readable (%s): any local user can read this private key; meant only for the "
               "container case, where the proxy runs as uid 65532 and reads a bind-mounted key it does not own\n",
               key_file.c_str(), octal(static_cast<int>(mode)).c_str());
}

// Key first, then certificate: a gateway polling the certificate file must never pick up
// a certificate whose key is not there yet.
void write_server_files(const std::string& out_dir, const pki::issued& material, mode_t key_mode) {
  pki::make_directory(out_dir);
  const std::string key_file = join_path(out_dir, "tls.key");
  const std::string cert_file = join_path(out_dir, "tls.crt");
  pki::write_key_file(key_file, material.key_pem, key_mode);
  pki::write_cert_file(cert_file, material.cert_pem);

  const pki::x509_ptr cert = pki::parse_certificate(material.cert_pem, cert_file);
  const pki::pkey_ptr key = pki::load_private_key(material.key_pem, key_file);
  std::printf("wrote %s (%s, mode %s)\n", key_file.c_str(), pki::describe_key(key.get()).c_str(),
              octal(static_cast<int>(key_mode)).c_str());
  std::string names;
  for (const auto& n : pki::dns_names(cert.get())) names += (names.empty() ? "DNS:" : ", DNS:") + n;
  std::printf("wrote %s (%s, valid until %s)\n", cert_file.c_str(), names.c_str(),
              pki::format_time(X509_get0_notAfter(cert.get())).c_str());
  for (const auto& note : material.notes) std::printf("note: %s\n", note.c_str());
  warn_world_readable(key_file, key_mode);
}

int run_ca(const certs_options& o) {
  if (o.keys.world_readable) {
    throw pki::error("", "--world-readable is not offered for the CA key: only `mcpgate certs` needs to read it");
  }
  const std::string key_file = join_path(o.out_dir, "ca.key");
  const std::string cert_file = join_path(o.out_dir, "ca.crt");
  if (fs::exists(key_file) && !o.force) {
    std::fprintf(stderr,
                 "mcpgate certs ca: %s exists; refusing to overwrite a CA key. The tunnel trusts the CA made from "
                 "it: a new CA must be uploaded again and every server certificate re-issued. Use --force to "
                 "replace it anyway (see docs/certs.md, CA rotation).\n",
                 key_file.c_str());
    return 1;
  }
  pki::ca_options options;
  options.key = key_type_or(o.key_type, pki::key_type::ecdsa_p256);
  options.days = (o.days != 0 ? o.days : options.days);
  options.common_name = o.common_name;
  const pki::issued ca = pki::generate_ca(options);

  pki::make_directory(o.out_dir);
  const mode_t key_mode = requested_key_mode(o.keys).value_or(0600);
  pki::write_key_file(key_file, ca.key_pem, key_mode);
  pki::write_cert_file(cert_file, ca.cert_pem);

  const pki::x509_ptr cert = pki::parse_certificate(ca.cert_pem, cert_file);
  std::printf("wrote %s (%s, mode %s): keep it private and backed up\n", key_file.c_str(),
              pki::describe_key(X509_get0_pubkey(cert.get())).c_str(), octal(static_cast<int>(key_mode)).c_str());
  std::printf("wrote %s (%s, valid until %s, sha256 fingerprint %s)\n", cert_file.c_str(),
              pki::name_of(X509_get_subject_name(cert.get())).c_str(),
              pki::format_time(X509_get0_notAfter(cert.get())).c_str(), pki::sha256_fingerprint(cert.get()).c_str());
  std::printf("next: upload %s to the tunnel in the Console (Manage > MCP tunnels), then issue the server "
              "certificate: mcpgate certs server --ca %s --domain <tunnel domain> --out %s\n",
              cert_file.c_str(), o.out_dir.c_str(), o.out_dir.c_str());
  return 0;
}

int run_server(const certs_options& o) {
  pki::server_options options;
  options.domain = o.domain;
  options.key = key_type_or(o.key_type, pki::key_type::rsa_4096);
  options.days = (o.days != 0 ? o.days : options.days);
  const pki::issued server = pki::issue_server_cert(pki::load_ca_dir(o.ca_dir), options);
  write_server_files(o.out_dir, server, requested_key_mode(o.keys).value_or(0600));
  return 0;
}

// "720h", "90m", "30d" (days are not in Go's syntax but are what people write for this).
long long parse_renew_before(const std::string& text) {
  if (text.size() > 1 && text.back() == 'd' && text.find_first_not_of("0123456789") == text.size() - 1 &&
      text.size() <= 6) {
    return std::stoll(text.substr(0, text.size() - 1)) * 86400;
  }
  std::string why;
  const auto d = config::parse_duration(text, &why);
  if (!d) throw pki::error("", "--renew-before \"" + text + "\": " + why + " (e.g. 720h or 30d)");
  return std::chrono::duration_cast<std::chrono::seconds>(*d).count();
}

// The domain an existing server certificate was issued for: the wildcard SAN's parent,
// else the CN.
std::string domain_of(X509* cert) {
  for (const auto& name : pki::dns_names(cert)) {
    if (name.rfind("*.", 0) == 0) return name.substr(2);
  }
  return pki::common_name(cert);
}

int run_renew(const certs_options& o) {
  const pki::ca_material ca = pki::load_ca_dir(o.ca_dir);
  const std::string cert_file = join_path(o.out_dir, "tls.crt");
  const std::string key_file = join_path(o.out_dir, "tls.key");
  const long long renew_before = parse_renew_before(o.renew_before);

  pki::server_options options;
  options.days = (o.days != 0 ? o.days : options.days);
  pki::x509_ptr existing;
  if (fs::exists(cert_file)) {
    try {
      existing = pki::parse_certificate(pki::read_file(cert_file, pki::max_pem_file_bytes), cert_file);
    } catch (const pki::error& e) {
      if (o.domain.empty()) throw;
      std::fprintf(stderr, "note: replacing an unreadable certificate: %s\n", e.what());
    }
  }
  options.domain = !o.domain.empty() ? o.domain : existing ? domain_of(existing.get()) : std::string();
  if (options.domain.empty()) {
    throw pki::error(cert_file, "no certificate to take the domain from: give --domain");
  }
  options.domain = pki::normalize_domain(options.domain);

  if (existing && renew_before > 0) {
    const long long left = pki::seconds_until(X509_get0_notAfter(existing.get()), std::time(nullptr));
    // Time alone does not decide: a certificate from another CA or for another domain is
    // replaced whatever its expiry.
    pki::inspect_options checks;
    checks.domain = options.domain;
    std::string reason;
    for (const auto& r : pki::inspect_server(pki::certificate_pem(existing.get()), ca.cert_pem, checks)) {
      const bool relevant = r.name == "signed by CA" || r.name == "authorityKeyIdentifier" || r.name == "subjectAltName";
      if (relevant && r.status == pki::check_status::fail && reason.empty()) reason = r.name + ": " + r.detail;
    }
    if (left > renew_before && reason.empty()) {
      std::printf("%s: %s left, more than --renew-before %s: not renewed\n", cert_file.c_str(),
                  pki::format_remaining(left).c_str(), o.renew_before.c_str());
      return 0;
    }
    if (!reason.empty()) std::printf("renewing %s although %s left: %s\n", cert_file.c_str(), pki::format_remaining(left).c_str(), reason.c_str());
  }

  // Keep what the running deployment depends on: the key type and the key file's mode
  // (a container reading a 0644 key would otherwise be locked out by the renewal).
  const auto existing_type = existing ? pki::key_type_of(X509_get0_pubkey(existing.get())) : std::nullopt;
  options.key = key_type_or(o.key_type, existing_type.value_or(pki::key_type::rsa_4096));
  mode_t key_mode = 0600;
  if (auto requested = requested_key_mode(o.keys)) key_mode = *requested;
  else if (const int m = pki::file_mode(key_file); m >= 0) key_mode = static_cast<mode_t>(m) & 0644;

  write_server_files(o.out_dir, pki::issue_server_cert(ca, options), key_mode);
  return 0;
}

const char* kind_name(pki::cert_kind kind) {
  switch (kind) {
    case pki::cert_kind::ca: return "CA certificate";
    case pki::cert_kind::server: return "server certificate";
    case pki::cert_kind::none: return "no certificate";
  }
  return "?";
}

int run_inspect(const certs_options& o) {
  struct file_report {
    std::string file;
    pki::cert_kind kind = pki::cert_kind::none;
    std::string subject;
    std::vector<pki::check_result> checks;
  };
  struct loaded {
    std::string file, pem, error;
    pki::cert_kind kind = pki::cert_kind::none;
  };
  std::vector<loaded> files;
  for (const auto& f : o.files) {
    loaded l{f, {}, {}, pki::cert_kind::none};
    try {
      l.pem = pki::read_file(f, pki::max_pem_file_bytes);
      l.kind = pki::classify(l.pem);
    } catch (const pki::error& e) {
      l.error = e.what();
    }
    files.push_back(std::move(l));
  }

  // The CA that server certificates must be signed by: --ca, else a CA among the files.
  std::string ca_pem;
  if (!o.ca_file.empty()) {
    ca_pem = pki::read_file(o.ca_file, pki::max_pem_file_bytes);
  } else {
    for (const auto& l : files) {
      if (l.kind == pki::cert_kind::ca) {
        ca_pem = l.pem;
        break;
      }
    }
  }

  pki::inspect_options options;
  for (char c : o.domain) options.domain.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));

  std::vector<file_report> reports;
  bool failed = false;
  for (const auto& l : files) {
    file_report r{l.file, l.kind, {}, {}};
    if (!l.error.empty()) {
      r.checks.push_back({"readable", pki::check_status::fail, l.error, "check the path and the file's permissions"});
    } else {
      const bool as_ca = l.kind == pki::cert_kind::ca || (l.kind == pki::cert_kind::none && l.file == o.ca_file);
      r.checks = as_ca ? pki::inspect_ca(l.pem, options) : pki::inspect_server(l.pem, ca_pem, options);
      try {
        if (l.kind != pki::cert_kind::none) {
          r.subject = pki::name_of(X509_get_subject_name(pki::parse_certificate(l.pem, l.file).get()));
        }
      } catch (const pki::error&) {
      }
    }
    failed = failed || pki::any_fail(r.checks);
    reports.push_back(std::move(r));
  }

  if (o.json) {
    boost::json::array out;
    for (const auto& r : reports) {
      boost::json::array checks;
      for (const auto& c : r.checks) {
        checks.push_back({{"name", c.name}, {"status", pki::to_string(c.status)}, {"detail", c.detail}, {"fix", c.fix}});
      }
      const char* kind = r.kind == pki::cert_kind::ca ? "ca" : r.kind == pki::cert_kind::server ? "server" : "none";
      out.push_back({{"file", r.file}, {"kind", kind}, {"subject", r.subject}, {"checks", std::move(checks)}});
    }
    const std::string text = boost::json::serialize(boost::json::object{{"ok", !failed}, {"files", std::move(out)}});
    std::printf("%s\n", text.c_str());
  } else {
    for (const auto& r : reports) {
      std::printf("%s: %s%s%s\n", r.file.c_str(), kind_name(r.kind), r.subject.empty() ? "" : ", ",
                  r.subject.c_str());
      std::fputs(pki::format_checks(r.checks).c_str(), stdout);
    }
  }
  return failed ? 1 : 0;
}

void add_key_mode_flags(CLI::App* sub, certs_options::key_mode_flags& flags, bool world) {
  auto* group = sub->add_flag("--group-readable", flags.group_readable, "Private key mode 0640 instead of 0600");
  if (!world) return;
  auto* all = sub->add_flag("--world-readable", flags.world_readable,
                            "Private key mode 0644: only for a container that reads a bind-mounted key as another uid "
                            "(Anthropic's proxy runs as 65532)");
  group->excludes(all);
}

}  // namespace

CLI::App* add_certs_command(CLI::App& app, certs_options& o) {
  auto* certs = app.add_subcommand("certs", "Create, renew and check the CA and server certificate of an MCP tunnel");
  certs->require_subcommand(1);
  const std::string key_types = pki::key_type_names();

  auto* ca = certs->add_subcommand("ca", "Create the CA to register on the tunnel: DIR/ca.crt and DIR/ca.key");
  ca->add_option("--out", o.out_dir, "Directory to write ca.crt and ca.key to")->required();
  ca->add_option("--key-type", o.key_type, "Key type: " + key_types + " (default ecdsa-p256)");
  ca->add_option("--days", o.days, "Validity in days (default 1826, five years)");
  ca->add_option("--cn", o.common_name, "Subject common name")->capture_default_str();
  ca->add_flag("--force", o.force, "Replace an existing CA key (the new CA must be registered again)");
  add_key_mode_flags(ca, o.keys, false);
  ca->callback([&o] { o.what = certs_options::action::ca; });

  auto* server = certs->add_subcommand("server", "Issue the server certificate from the CA: DIR/tls.crt and DIR/tls.key");
  server->add_option("--ca", o.ca_dir, "Directory holding ca.crt and ca.key")->required();
  server->add_option("--domain", o.domain, "Tunnel domain; the certificate covers it and *.domain")->required();
  server->add_option("--out", o.out_dir, "Directory to write tls.crt and tls.key to")->required();
  server->add_option("--key-type", o.key_type, "Key type: " + key_types + " (default rsa-4096)");
  server->add_option("--days", o.days, "Validity in days (default 90)");
  add_key_mode_flags(server, o.keys, true);
  server->callback([&o] { o.what = certs_options::action::server; });

  auto* renew = certs->add_subcommand("renew", "Issue the server certificate again from the same CA");
  renew->add_option("--ca", o.ca_dir, "Directory holding ca.crt and ca.key")->required();
  renew->add_option("--out", o.out_dir, "Directory holding tls.crt and tls.key")->required();
  renew->add_option("--domain", o.domain, "Tunnel domain (default: the one of the current tls.crt)");
  renew->add_option("--days", o.days, "Validity in days (default 90)");
  renew->add_option("--renew-before", o.renew_before,
                    "Do nothing while more than this remains (720h, 30d); 0 = always renew")
      ->capture_default_str();
  renew->add_option("--key-type", o.key_type, "Key type: " + key_types + " (default: that of the current certificate)");
  add_key_mode_flags(renew, o.keys, true);
  renew->callback([&o] { o.what = certs_options::action::renew; });

  auto* inspect = certs->add_subcommand("inspect", "Check certificate files against the tunnel's requirements");
  inspect->add_option("files", o.files, "Certificate files (CA and server; each is classified)")->required();
  inspect->add_option("--domain", o.domain, "Tunnel domain the server certificate must cover");
  inspect->add_option("--ca", o.ca_file, "CA certificate the server certificate must be signed by");
  inspect->add_flag("--json", o.json, "Machine-readable output");
  inspect->callback([&o] { o.what = certs_options::action::inspect; });
  return certs;
}

int run_certs(const certs_options& options) {
  try {
    switch (options.what) {
      case certs_options::action::ca: return run_ca(options);
      case certs_options::action::server: return run_server(options);
      case certs_options::action::renew: return run_renew(options);
      case certs_options::action::inspect: return run_inspect(options);
      case certs_options::action::none: break;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcpgate certs: %s\n", e.what());
    return 1;
  }
  return 2;
}

}  // namespace mcpgate::app
