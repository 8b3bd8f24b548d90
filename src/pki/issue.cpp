#include "pki/issue.hpp"

#include <filesystem>

#include "pki/builder.hpp"
#include "pki/domain.hpp"
#include "pki/error.hpp"
#include "pki/files.hpp"
#include "pki/pem.hpp"

namespace mcpgate::pki {
namespace {

// notBefore lies a little in the past: a certificate issued and installed within the same
// minute must not look "not yet valid" to a verifier whose clock is slightly ahead.
constexpr std::time_t backdate_seconds = 5 * 60;
constexpr int max_days = 36500;
constexpr std::size_t max_key_file_bytes = 64 * 1024;

void check_days(int days) {
  if (days < 1 || days > max_days) {
    throw error("", "--days must be between 1 and " + std::to_string(max_days) + ", got " + std::to_string(days));
  }
}

std::time_t now_or_clock(const std::optional<std::time_t>& now) { return now ? *now : std::time(nullptr); }

}  // namespace

issued generate_ca(const ca_options& options) {
  check_days(options.days);
  if (options.common_name.empty() || options.common_name.size() > 64) {
    throw error("", "the CA common name must be 1 to 64 characters");
  }
  const std::time_t now = now_or_clock(options.now);
  const pkey_ptr key = generate_key(options.key);
  const x509_ptr cert = cert_builder()
                            .subject_cn(options.common_name)
                            .validity(now - backdate_seconds, now + static_cast<std::time_t>(options.days) * 86400)
                            .public_key(key.get())
                            .extension(NID_basic_constraints, "critical,CA:TRUE")
                            .extension(NID_key_usage, "critical,keyCertSign,cRLSign")
                            .extension(NID_subject_key_identifier, "hash")
                            .sign(key.get(), EVP_sha256());
  return {certificate_pem(cert.get()), private_key_pem(key.get()), {}};
}

ca_material load_ca_dir(const std::string& dir) {
  ca_material out;
  out.cert_file = (std::filesystem::path(dir) / "ca.crt").string();
  out.key_file = (std::filesystem::path(dir) / "ca.key").string();
  out.cert_pem = read_file(out.cert_file, max_pem_file_bytes);
  out.key_pem = read_file(out.key_file, max_key_file_bytes);
  return out;
}

issued issue_server_cert(const ca_material& ca, const server_options& options) {
  check_days(options.days);
  const std::string domain = normalize_domain(options.domain);
  const std::time_t now = now_or_clock(options.now);

  const x509_ptr ca_cert = parse_certificate(ca.cert_pem, ca.cert_file);
  const pkey_ptr ca_key = load_private_key(ca.key_pem, ca.key_file);
  if (EVP_PKEY_eq(X509_get0_pubkey(ca_cert.get()), ca_key.get()) != 1) {
    throw error(ca.key_file, "is not the key of " + ca.cert_file + " (a CA certificate and key from different runs?)");
  }
  if (X509_check_ca(ca_cert.get()) < 1) {
    throw error(ca.cert_file, "is not a CA certificate (basicConstraints CA:TRUE is missing)");
  }
  if (X509_get0_subject_key_id(ca_cert.get()) == nullptr) {
    throw error(ca.cert_file,
                "has no subjectKeyIdentifier; the tunnel requires the server certificate's authorityKeyIdentifier "
                "to match it (re-create the CA with mcpgate certs ca)");
  }
  const long long ca_left = seconds_until(X509_get0_notAfter(ca_cert.get()), now);
  if (ca_left <= 0) {
    throw error(ca.cert_file, "expired on " + format_time(X509_get0_notAfter(ca_cert.get())) +
                                  ": create a new CA (mcpgate certs ca --force), register it, then issue again");
  }

  issued out;
  std::time_t not_after = now + static_cast<std::time_t>(options.days) * 86400;
  if (ca_left < static_cast<long long>(options.days) * 86400) {
    not_after = now + static_cast<std::time_t>(ca_left);
    out.notes.push_back("the CA " + ca.cert_file + " expires on " + format_time(X509_get0_notAfter(ca_cert.get())) +
                        ", so the server certificate ends then too: rotate the CA before that (see docs/certs.md)");
  }

  const pkey_ptr key = generate_key(options.key);
  // keyEncipherment only means something for RSA key transport (TLS 1.2 RSA kx).
  const bool rsa = EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_RSA;
  const x509_ptr cert = cert_builder()
                            .subject_cn(domain)
                            .validity(now - backdate_seconds, not_after)
                            .public_key(key.get())
                            .issued_by(ca_cert.get())
                            .extension(NID_basic_constraints, "CA:FALSE")
                            .extension(NID_key_usage, rsa ? "critical,digitalSignature,keyEncipherment"
                                                          : "critical,digitalSignature")
                            .extension(NID_ext_key_usage, "serverAuth")
                            .extension(NID_subject_alt_name, "DNS:" + domain + ",DNS:*." + domain)
                            .extension(NID_subject_key_identifier, "hash")
                            .extension(NID_authority_key_identifier, "keyid:always")
                            .sign(ca_key.get(), EVP_sha256());
  out.cert_pem = certificate_pem(cert.get());
  out.key_pem = private_key_pem(key.get());
  return out;
}

}  // namespace mcpgate::pki
