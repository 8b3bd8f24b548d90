// TLS contexts: server side for tls listeners, client side for https:// upstreams.
// Built once per config snapshot; shared by every worker (an SSL_CTX is thread-safe for
// creating connections). Building throws std::runtime_error with a message naming the
// file and OpenSSL's reason; callers turn that into a startup or reload error.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "config/config.hpp"

namespace mcpgate::net {

// TLS 1.2+, ALPN "http/1.1", the certificate chain and key of `files` (checked to match),
// and small idle memory (OpenSSL read/write buffers released between records).
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const config::tls_files& files);

// Verifies upstream certificates against upstream.tls.ca_file and/or the system store.
// Host-name verification and SNI are per connection (see upstream_dialer).
std::shared_ptr<boost::asio::ssl::context> make_upstream_tls_context(const config::upstream_settings& upstream);

// What tells a rewritten file from the one already loaded: identity, size, change time
// (rename-into-place changes the inode, in-place writes change size or ctime).
struct file_stamp {
  bool exists = false;
  unsigned long long device = 0, inode = 0, size = 0;
  long long ctime_ns = 0, mtime_ns = 0;
  bool operator==(const file_stamp&) const = default;
};
file_stamp stamp_of(const std::string& path);

}  // namespace mcpgate::net
