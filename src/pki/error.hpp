// The one exception type of the certificate tooling. It names the file involved (when
// there is one) and carries OpenSSL's own reason, so a CLI can print what() as is.
#pragma once

#include <stdexcept>
#include <string>

namespace mcpgate::pki {

class error : public std::runtime_error {
 public:
  // what() is "FILE: MESSAGE", or MESSAGE alone when `file` is empty. `code` is the errno
  // of a failed system call (EACCES tells "permission denied" apart), else 0.
  error(std::string file, const std::string& message, int code = 0);
  const std::string& file() const noexcept { return file_; }
  int code() const noexcept { return code_; }

 private:
  std::string file_;
  int code_ = 0;
};

// OpenSSL's queued reason for the last failure ("unknown OpenSSL error" when it queued
// none); empties the queue so that a later failure does not report a stale reason.
std::string openssl_reason();

// Throws pki::error(file, what + ": " + openssl_reason()).
[[noreturn]] void throw_openssl(const std::string& file, const std::string& what);

}  // namespace mcpgate::pki
