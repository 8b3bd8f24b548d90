#include "pki/error.hpp"

#include <openssl/err.h>

namespace mcpgate::pki {

error::error(std::string file, const std::string& message, int code)
    : std::runtime_error(file.empty() ? message : file + ": " + message), file_(std::move(file)), code_(code) {}

std::string openssl_reason() {
  // The last queued error is the most specific one (the outermost call queues last).
  unsigned long code = 0;
  for (unsigned long next = ERR_get_error(); next != 0; next = ERR_get_error()) code = next;
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

void throw_openssl(const std::string& file, const std::string& what) {
  throw error(file, what + ": " + openssl_reason());
}

}  // namespace mcpgate::pki
