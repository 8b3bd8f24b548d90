// Certificate and key files on disk: bounded reads, atomic writes with explicit modes, and
// the questions `doctor` asks about them (can uid U read this key? does it match the cert?).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace mcpgate::pki {

// Who may read a private key file. owner: 0600 (default). group: 0640, for a service
// user in the file's group. world: 0644, the docs' container case: the proxy runs as
// uid 65532 and reads a bind-mounted key it does not own.
enum class key_access { owner, group, world };
mode_t mode_of(key_access access);
inline constexpr mode_t cert_file_mode = 0644;

// The whole file, refusing (pki::error naming it) files larger than `max_bytes`.
std::string read_file(const std::string& path, std::size_t max_bytes);

// Writes `data` to a temporary file beside `path`, sets `mode` (umask does not apply),
// fsyncs, and renames it over `path`: a reader polling `path` sees the old file or the
// new one, never a half-written one. When `path` exists and we may (running as root), the
// new file keeps its owner and group, so that renewing a key chown'ed to a service user
// does not lock that user out. Throws pki::error naming the file.
void write_file_atomic(const std::string& path, std::string_view data, mode_t mode);
void write_key_file(const std::string& path, std::string_view pem, mode_t mode = 0600);
void write_cert_file(const std::string& path, std::string_view pem);

// Creates `dir` (and missing parents) with mode 0755: a container user must be able to
// traverse it to reach tls.crt and tls.key; the files' own modes protect their contents.
void make_directory(const std::string& dir);

// The permission bits of an existing file, or -1 when it does not exist.
int file_mode(const std::string& path);

// Whether uid/gid (with no supplementary groups, as a container's "65532:65532") could open
// `path` for reading, judged from owner, group and mode bits of the file and search
// permission on its directory. `detail` says why not, with the numbers.
struct access_answer {
  bool readable = false;
  std::string detail;
};
access_answer readable_by(const std::string& path, uid_t uid, gid_t gid);

// Whether the private key in `key_pem` belongs to the first certificate of `cert_pem`.
// Throws pki::error (naming the files given) when either does not parse.
bool key_matches_cert(std::string_view cert_pem, std::string_view key_pem, const std::string& cert_file = "",
                      const std::string& key_file = "");

}  // namespace mcpgate::pki
