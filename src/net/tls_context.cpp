#include "net/tls_context.hpp"

#include <stdexcept>

#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace mcpgate::net {

namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                  void*) {
  // Only HTTP/1.1 is served; a client offering only h2 still gets a connection (no ALPN).
  static const unsigned char http11[] = "\x08http/1.1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11 - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const config::tls_files& files) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections (SSE streams) then hold no 34 KiB of record buffers each.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(native, select_http11, nullptr);

  if (SSL_CTX_use_certificate_chain_file(native, files.cert_file.c_str()) != 1) {
    throw std::runtime_error("tls.cert_file " + files.cert_file + ": " + openssl_reason());
  }
  // The key is read through OpenSSL only; its bytes never reach a log line.
  if (SSL_CTX_use_PrivateKey_file(native, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("tls.key_file " + files.key_file + ": " + openssl_reason());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    throw std::runtime_error("tls.key_file " + files.key_file + " does not match tls.cert_file " + files.cert_file);
  }
  if (!files.client_ca_file.empty()) {
    // mTLS: clients are asked for a certificate from this CA; one they send must verify
    // (the handshake fails otherwise), and `required` refuses clients that send none.
    if (SSL_CTX_load_verify_locations(native, files.client_ca_file.c_str(), nullptr) != 1) {
      throw std::runtime_error("tls.client_ca_file " + files.client_ca_file + ": " + openssl_reason());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_file.c_str());
    if (!names) throw std::runtime_error("tls.client_ca_file " + files.client_ca_file + ": " + openssl_reason());
    SSL_CTX_set_client_CA_list(native, names);
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER | (files.client_cert_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       nullptr);
    // Resumed sessions keep the certificate they were verified with; OpenSSL refuses to
    // resume a verified session without a context id.
    static const unsigned char context_id[] = "mcpgate-mtls";
    SSL_CTX_set_session_id_context(native, context_id, sizeof context_id - 1);
  }
  return ctx;
}

std::shared_ptr<ssl::context> make_upstream_tls_context(const config::upstream_settings& upstream) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  ctx->set_verify_mode(ssl::verify_peer);
  if (!upstream.ca_file.empty()) {
    boost::system::error_code ec;
    ctx->load_verify_file(upstream.ca_file, ec);
    if (ec) throw std::runtime_error("upstream.tls.ca_file " + upstream.ca_file + ": " + ec.message());
  }
  if (upstream.include_system_cas) ctx->set_default_verify_paths();
  static const unsigned char http11[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(native, http11, sizeof http11 - 1);
  return ctx;
}

file_stamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  file_stamp out;
  out.exists = true;
  out.device = st.st_dev;
  out.inode = st.st_ino;
  out.size = static_cast<unsigned long long>(st.st_size);
  out.ctime_ns = static_cast<long long>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  out.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return out;
}

}  // namespace mcpgate::net
