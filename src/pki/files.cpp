#include "pki/files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pki/error.hpp"
#include "pki/key.hpp"
#include "pki/pem.hpp"

namespace mcpgate::pki {
namespace {

[[noreturn]] void throw_errno(const std::string& path, const std::string& what) {
  const int code = errno;
  throw error(path, what + ": " + std::strerror(code), code);
}

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

mode_t mode_of(key_access access) {
  switch (access) {
    case key_access::owner: return 0600;
    case key_access::group: return 0640;
    case key_access::world: return 0644;
  }
  return 0600;
}

std::string read_file(const std::string& path, std::size_t max_bytes) {
  fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) throw_errno(path, "cannot open");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno(path, "cannot stat");
  if (!S_ISREG(st.st_mode)) throw error(path, "not a regular file");
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(path, "cannot read");
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      throw error(path, "larger than " + std::to_string(max_bytes) + " bytes: not a certificate or key file");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

void write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  fd_guard fd(::mkstemp(tmp.data()));
  if (fd.get() < 0) throw_errno(path, "cannot create a temporary file beside it");
  // From here on a failure must not leave the temporary file behind.
  struct unlink_on_failure {
    const std::string& name;
    bool armed = true;
    ~unlink_on_failure() {
      if (armed) ::unlink(name.c_str());
    }
  } cleanup{tmp};

  struct stat old {};
  if (::stat(path.c_str(), &old) == 0 && ::geteuid() == 0) {
    // Best effort: only root may give a file away, and a failure changes nothing here.
    (void)::fchown(fd.get(), old.st_uid, old.st_gid);
  }
  if (::fchmod(fd.get(), mode) != 0) throw_errno(path, "cannot set mode " + octal(mode));
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(path, "cannot write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) throw_errno(path, "cannot sync");
  if (::close(fd.release()) != 0) throw_errno(path, "cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno(path, "cannot rename the new file into place");
  cleanup.armed = false;
  // The rename itself is durable only once the directory is synced.
  fd_guard dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) (void)::fsync(dir_fd.get());
}

void write_key_file(const std::string& path, std::string_view pem, mode_t mode) { write_file_atomic(path, pem, mode); }

void write_cert_file(const std::string& path, std::string_view pem) { write_file_atomic(path, pem, cert_file_mode); }

void make_directory(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw error(dir, "cannot create directory: " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms(0755), ec);
  if (ec) throw error(dir, "cannot set mode 0755: " + ec.message());
}

int file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

access_answer readable_by(const std::string& path, uid_t uid, gid_t gid) {
  access_answer out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    out.detail = path + ": " + std::strerror(errno);
    return out;
  }
  const std::string who = "uid " + std::to_string(uid) + " gid " + std::to_string(gid);
  const std::string file = path + " is " + octal(st.st_mode) + " owner " + std::to_string(st.st_uid) + ":" +
                           std::to_string(st.st_gid);
  if (uid == 0) {
    out.readable = true;
    out.detail = file + " (root reads any file)";
    return out;
  }
  auto allows = [&](const struct stat& s, mode_t user_bit, mode_t group_bit, mode_t other_bit) {
    if (s.st_uid == uid) return (s.st_mode & user_bit) != 0;
    if (s.st_gid == gid) return (s.st_mode & group_bit) != 0;
    return (s.st_mode & other_bit) != 0;
  };
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  struct stat dir {};
  if (::stat(parent.empty() ? "." : parent.c_str(), &dir) == 0 && !allows(dir, S_IXUSR, S_IXGRP, S_IXOTH)) {
    out.detail = "directory " + (parent.empty() ? std::string(".") : parent.string()) + " is " + octal(dir.st_mode) +
                 " owner " + std::to_string(dir.st_uid) + ":" + std::to_string(dir.st_gid) + ": " + who +
                 " cannot enter it";
    return out;
  }
  out.readable = allows(st, S_IRUSR, S_IRGRP, S_IROTH);
  out.detail = file + (out.readable ? ": readable by " : ": not readable by ") + who;
  return out;
}

bool key_matches_cert(std::string_view cert_pem, std::string_view key_pem, const std::string& cert_file,
                      const std::string& key_file) {
  const x509_ptr cert = parse_certificate(cert_pem, cert_file);
  const pkey_ptr key = load_private_key(key_pem, key_file);
  return EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key.get()) == 1;
}

}  // namespace mcpgate::pki
