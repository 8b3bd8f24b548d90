#include "auth/client_cert.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>

namespace mcpgate::auth {

namespace {

std::string text_of(const ASN1_STRING* s) {
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return "";
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  // A name with an embedded NUL or control character could spoof another in a glob match.
  for (char c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "";
  }
  return out;
}

}  // namespace

std::optional<client_certificate> verified_client_certificate(SSL* ssl) {
  if (!ssl) return std::nullopt;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  client_certificate out;
  using names_ptr = std::unique_ptr<GENERAL_NAMES, decltype([](GENERAL_NAMES* n) { GENERAL_NAMES_free(n); })>;
  names_ptr sans(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    std::string text;
    if (name->type == GEN_DNS) text = text_of(name->d.dNSName);
    else if (name->type == GEN_EMAIL) text = text_of(name->d.rfc822Name);
    else if (name->type == GEN_URI) text = text_of(name->d.uniformResourceIdentifier);
    if (!text.empty()) out.names.push_back(std::move(text));
  }
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) out.subject_cn = text_of(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
  if (!out.subject_cn.empty()) out.names.push_back(out.subject_cn);
  return out;
}

}  // namespace mcpgate::auth
