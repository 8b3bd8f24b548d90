// The edge's tunnel registry: which tunnels exist, the domain each owns, and the public
// keys of their token versions. SQLite (one file, WAL mode) so `mcpgate tunnel ...` can
// administer it while the edge runs; the edge notices changes (archive, rotation) by polling
// `changed()`, which is cheap (PRAGMA data_version).
//
// Only the public key of each token version is stored (see token.hpp); the token itself is
// returned once, by create() and rotate_token(), and never again.
//
// Not thread-safe: one registry object per thread (each opens its own connection).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tunnel/token.hpp"

struct sqlite3;

namespace mcpgate::tunnel {

struct tunnel_record {
  std::string id;            // [a-z0-9]{12}: also the first label of the default domain
  std::string name;          // display name, as given
  std::string domain;        // "<id>.<base domain>" or the custom domain given at creation
  std::int64_t created_at = 0;               // unix seconds
  std::optional<std::int64_t> archived_at;   // set once, never cleared
  std::uint32_t token_version = 0;           // the only version new connections may use
  std::int64_t token_rotated_at = 0;         // unix seconds of the current version
};

// Why the edge refuses a connector; each has its own log line on both sides.
enum class auth_verdict {
  ok,
  tunnel_unknown,   // no such tunnel id
  token_rotated,    // a version older than the current one
  token_unknown,    // a version newer than any issued (or otherwise not on record)
  tunnel_archived,
  bad_proof,        // the version is current but the signature does not verify
};
std::string_view to_string(auth_verdict verdict);

class registry_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Refused from the arguments alone, before the database is consulted (a malformed domain or
// name): for the CLI a bad argument (exit 2), where other registry_errors are failed
// operations (exit 1).
class registry_input_error : public registry_error {
 public:
  using registry_error::registry_error;
};

class registry {
 public:
  // Opens (creating if missing, with mode 0600, and its directory must exist) the database
  // at `path` and brings its schema up to date. Throws registry_error saying which file and
  // what failed.
  explicit registry(const std::string& path);
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  struct created {
    tunnel_record tunnel;
    std::string token;  // formatted; shown to the user once
  };
  // `base_domain` names the default domain <id>.<base_domain>; `custom_domain` (non-empty)
  // replaces it. Throws registry_error if the domain is taken or was ever used by a tunnel
  // (archived domains are retired forever), or a name is not a valid DNS name.
  created create(std::string_view name, std::string_view base_domain, std::string_view custom_domain = {});

  std::vector<tunnel_record> list(bool include_archived = true);
  std::optional<tunnel_record> find(std::string_view id);
  // The live (not archived) tunnel whose domain is `host` or a parent of it (longest wins).
  std::optional<tunnel_record> find_by_host(std::string_view host);

  // New token version; the old one is refused for new connections from now on. Throws
  // registry_error for an unknown or archived tunnel.
  std::string rotate_token(std::string_view id);
  // Permanent. Throws registry_error for an unknown tunnel; archiving twice is an error too.
  tunnel_record archive(std::string_view id);

  // Checks a connector's proof for `tunnel_id` at `version` over `exporter`. Whatever the
  // connector sent gives a verdict; only a failing database throws (registry_error).
  auth_verdict authenticate(std::string_view tunnel_id, std::uint32_t version,
                            std::span<const std::uint8_t> exporter, const token_signature& signature);

  // True when another connection (the CLI) changed the database since the last call.
  bool changed();

 private:
  sqlite3* db_ = nullptr;
  std::int64_t data_version_ = -1;
};

}  // namespace mcpgate::tunnel
