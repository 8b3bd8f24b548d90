#include "tunnel/registry.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>

#include "pki/text.hpp"
#include "tunnel/client_hello.hpp"

namespace mcpgate::tunnel {

namespace {

// PRAGMA user_version. A newer mcpgate adds a step to migrate() and raises this; an older
// one refuses a file it does not understand rather than guessing.
constexpr int schema_version = 1;

constexpr const char* schema_v1 = R"sql(
CREATE TABLE tunnels (
  id          TEXT PRIMARY KEY NOT NULL,
  name        TEXT NOT NULL,
  domain      TEXT NOT NULL UNIQUE,  -- archived rows stay: their domains are never reused
  created_at  INTEGER NOT NULL,
  archived_at INTEGER
);
CREATE TABLE token_versions (
  tunnel_id   TEXT NOT NULL REFERENCES tunnels (id),
  version     INTEGER NOT NULL,
  public_key  BLOB NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tunnel_id, version)
) WITHOUT ROWID;
)sql";

// The CLI may hold the write lock while the edge reads (or the other way round); a few
// seconds covers any transaction here.
constexpr int busy_timeout_ms = 5000;

constexpr std::size_t tunnel_id_size = 12;
constexpr std::size_t max_name_size = 100;
constexpr int max_id_attempts = 16;

// Each tunnel with its current (highest) token version.
constexpr std::string_view record_select =
    "SELECT t.id, t.name, t.domain, t.created_at, t.archived_at, v.version, v.created_at "
    "FROM tunnels AS t JOIN token_versions AS v ON v.tunnel_id = t.id "
    "AND v.version = (SELECT MAX(version) FROM token_versions WHERE tunnel_id = t.id)";

// record_select followed by `rest` (built by append: g++ 12 sees a bogus out-of-bounds copy
// in `std::string(view) + "literal"` at -O2).
std::string record_query(std::string_view rest) {
  std::string sql;
  sql.reserve(record_select.size() + rest.size());
  sql.append(record_select).append(rest);
  return sql;
}

std::string file_of(sqlite3* db) {
  const char* name = sqlite3_db_filename(db, "main");
  return name != nullptr && *name != '\0' ? name : ":memory:";
}

[[noreturn]] void throw_sqlite(sqlite3* db, std::string_view operation) {
  throw registry_error("tunnel registry " + file_of(db) + ": " + std::string(operation) + ": " + sqlite3_errmsg(db));
}

class statement {
 public:
  statement(sqlite3* db, std::string_view sql, std::string_view operation) : db_(db), operation_(operation) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK) {
      throw_sqlite(db, operation);
    }
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  statement& bind(int index, std::string_view text) {
    check(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
    return *this;
  }
  statement& bind(int index, std::int64_t value) {
    check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  statement& bind(int index, std::span<const std::uint8_t> blob) {
    check(sqlite3_bind_blob(stmt_, index, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT));
    return *this;
  }

  // true: a row is ready; false: done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, operation_);
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
             : std::string();
  }
  std::span<const std::uint8_t> blob(int column) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
    return {p, p ? static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)) : 0};
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw_sqlite(db_, operation_);
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string operation_;
};

void exec(sqlite3* db, const char* sql, std::string_view operation) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw_sqlite(db, operation);
}

// BEGIN IMMEDIATE takes the write lock up front: a check followed by a write (is the domain
// free? then insert) cannot interleave with another process doing the same.
class write_transaction {
 public:
  write_transaction(sqlite3* db, std::string_view operation) : db_(db), operation_(operation) {
    exec(db, "BEGIN IMMEDIATE", operation);
  }
  ~write_transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;
  void commit() {
    exec(db_, "COMMIT", operation_);
    done_ = true;
  }

 private:
  sqlite3* db_;
  std::string operation_;
  bool done_ = false;
};

std::int64_t pragma_integer(sqlite3* db, const char* sql, std::string_view operation) {
  statement st(db, sql, operation);
  if (!st.step()) throw registry_error("tunnel registry " + file_of(db) + ": " + std::string(operation) + ": no result");
  return st.integer(0);
}

void migrate(sqlite3* db) {
  if (pragma_integer(db, "PRAGMA user_version", "read the schema version") == schema_version) return;
  write_transaction tx(db, "update the schema");
  // Again under the lock: another process may have created the schema meanwhile.
  const auto version = pragma_integer(db, "PRAGMA user_version", "read the schema version");
  if (version > schema_version) {
    throw registry_error("tunnel registry " + file_of(db) + ": schema version " + std::to_string(version) +
                         " is newer than this mcpgate understands (" + std::to_string(schema_version) +
                         "): use the mcpgate that wrote it, or a newer one");
  }
  if (version < 1) exec(db, schema_v1, "create the schema");
  exec(db, ("PRAGMA user_version = " + std::to_string(schema_version)).c_str(), "set the schema version");
  tx.commit();
}

void configure(sqlite3* db) {
  if (sqlite3_busy_timeout(db, busy_timeout_ms) != SQLITE_OK) throw_sqlite(db, "set the busy timeout");
  // WAL: the edge keeps reading while the CLI writes, and neither blocks the other.
  {
    statement wal(db, "PRAGMA journal_mode = WAL", "enable WAL mode");
    if (!wal.step() || wal.text(0) != "wal") {
      throw registry_error("tunnel registry " + file_of(db) + ": enable WAL mode: refused (journal mode \"" +
                           wal.text(0) + "\")");
    }
  }  // finalized here: an unfinished statement would keep migrate()'s transaction from committing
  exec(db, "PRAGMA foreign_keys = ON", "enable foreign keys");
  migrate(db);
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string random_tunnel_id() {
  constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id;
  while (id.size() < tunnel_id_size) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw registry_error("tunnel registry: RAND_bytes failed");
    for (unsigned char b : bytes) {
      // 252 = 7 * 36: dropping the 4 bytes above it keeps every character equally likely.
      if (b < 252 && id.size() < tunnel_id_size) id.push_back(alphabet[b % alphabet.size()]);
    }
  }
  return id;
}

std::string quoted(std::string_view text) { return "\"" + pki::printable(text, 80) + "\""; }

// `text` lower-cased, if it is a DNS name a tunnel's domain can be or end in (at least
// `min_labels` labels); else registry_input_error saying why, naming `what`.
std::string checked_dns_name(std::string_view text, std::string_view what, std::size_t min_labels) {
  auto refuse = [&](const std::string& why) {
    return registry_input_error("invalid " + std::string(what) + " " + quoted(text) + ": " + why);
  };
  if (text.empty()) throw refuse("empty");
  if (text.size() > 253) throw refuse("longer than 253 characters");
  if (text.back() == '.') throw refuse("remove the trailing dot");
  std::string out;
  std::size_t labels = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = std::min(text.find('.', start), text.size());
    const std::string_view label = text.substr(start, dot - start);
    if (label.empty()) throw refuse("empty label (a leading dot, or two dots in a row)");
    if (label.size() > 63) throw refuse("label longer than 63 characters");
    if (label.front() == '-' || label.back() == '-') throw refuse("a label starts or ends with '-'");
    for (char c : label) {
      const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
      if (!((lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') || lower == '-')) {
        throw refuse("only letters, digits, '-' and '.' are allowed");
      }
      out.push_back(lower);
    }
    ++labels;
    if (dot == text.size()) {
      // TLS clients send no SNI for an IP address, so the edge could never route to it.
      if (label.find_first_not_of("0123456789") == std::string_view::npos) {
        throw refuse("ends in a number (an IP address is not a domain)");
      }
      break;
    }
    out.push_back('.');
    start = dot + 1;
  }
  if (labels < min_labels) throw refuse("needs at least " + std::to_string(min_labels) + " labels (e.g. mcp.example.com)");
  return out;
}

void check_name(std::string_view name) {
  if (name.empty()) throw registry_input_error("a tunnel needs a name");
  if (name.size() > max_name_size) {
    throw registry_input_error("tunnel name longer than " + std::to_string(max_name_size) + " bytes");
  }
  // Names are printed in tables and logs: no control characters (terminal escapes).
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) throw registry_input_error("tunnel name " + quoted(name) + " holds a control character");
  }
}

bool valid_id_shape(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

tunnel_record record_from(const statement& st) {
  tunnel_record r;
  r.id = st.text(0);
  r.name = st.text(1);
  r.domain = st.text(2);
  r.created_at = st.integer(3);
  if (!st.is_null(4)) r.archived_at = st.integer(4);
  r.token_version = static_cast<std::uint32_t>(st.integer(5));
  r.token_rotated_at = st.integer(6);
  return r;
}

std::optional<tunnel_record> find_record(sqlite3* db, std::string_view id, std::string_view operation) {
  statement st(db, record_query(" WHERE t.id = ?1"), operation);
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return record_from(st);
}

registry_error unknown_tunnel(sqlite3* db, std::string_view id) {
  if (!valid_id_shape(id)) return registry_error(quoted(id) + " is not a tunnel id (12 lower-case letters and digits)");
  return registry_error("no tunnel " + quoted(id) + " in the registry " + file_of(db));
}

// Throws unless `domain` may become a live tunnel's domain: not used by any tunnel ever
// (archived ones included), and neither under nor above a live tunnel's domain, since the
// edge routes by SNI and a name under both would be ambiguous.
void check_domain_free(sqlite3* db, const std::string& domain) {
  {
    statement st(db, "SELECT id, name, archived_at FROM tunnels WHERE domain = ?1", "check the domain");
    st.bind(1, domain);
    if (st.step()) {
      if (!st.is_null(2)) {
        throw registry_error("domain " + quoted(domain) + " belonged to tunnel " + st.text(0) +
                             ", now archived; an archived tunnel's domain is never given to another tunnel");
      }
      throw registry_error("domain " + quoted(domain) + " is taken by tunnel " + st.text(0) + " (" +
                           pki::printable(st.text(1)) + ")");
    }
  }
  statement st(db, "SELECT id, domain FROM tunnels WHERE archived_at IS NULL", "check the domain");
  while (st.step()) {
    const std::string other = st.text(1);
    if (name_is_under(domain, other)) {
      throw registry_error("domain " + quoted(domain) + " is under " + quoted(other) + ", the domain of tunnel " +
                           st.text(0) + ": the edge routes by name and could not tell the two apart");
    }
    if (name_is_under(other, domain)) {
      throw registry_error("domain " + quoted(domain) + " contains " + quoted(other) + ", the domain of tunnel " +
                           st.text(0) + ": the edge routes by name and could not tell the two apart");
    }
  }
}

void insert_token_version(sqlite3* db, const tunnel_token& token, std::int64_t now, std::string_view operation) {
  const auto key = public_key_of(token.secret);
  statement st(db, "INSERT INTO token_versions (tunnel_id, version, public_key, created_at) VALUES (?1, ?2, ?3, ?4)",
               operation);
  st.bind(1, token.tunnel_id).bind(2, std::int64_t{token.version}).bind(3, std::span<const std::uint8_t>(key)).bind(4, now);
  st.step();
}

// The token as text, and the secret wiped from memory we own.
std::string issue(tunnel_token& token) {
  std::string text = format_token(token);
  OPENSSL_cleanse(token.secret.data(), token.secret.size());
  return text;
}

}  // namespace

std::string_view to_string(auth_verdict verdict) {
  switch (verdict) {
    case auth_verdict::ok: return "ok";
    case auth_verdict::tunnel_unknown: return "tunnel_unknown";
    case auth_verdict::token_rotated: return "token_rotated";
    case auth_verdict::token_unknown: return "token_unknown";
    case auth_verdict::tunnel_archived: return "tunnel_archived";
    case auth_verdict::bad_proof: return "bad_proof";
  }
  return "unknown";
}

registry::registry(const std::string& path) {
  // SQLite would create the file 0644 (less the umask); made here first it is 0600, and
  // SQLite gives the -wal and -shm files the database file's mode.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw registry_error("tunnel registry " + path + ": cannot open or create it: " + std::strerror(errno));
  ::close(fd);
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw registry_error("tunnel registry " + path + ": open: " + why);
  }
  try {
    configure(db_);
    data_version_ = pragma_integer(db_, "PRAGMA data_version", "read the data version");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

registry::~registry() { sqlite3_close(db_); }

registry::created registry::create(std::string_view name, std::string_view base_domain, std::string_view custom_domain) {
  check_name(name);
  const std::string base = base_domain.empty() ? "" : checked_dns_name(base_domain, "base domain", 1);
  const std::string custom = custom_domain.empty() ? "" : checked_dns_name(custom_domain, "custom domain", 2);
  if (custom.empty() && base.empty()) {
    throw registry_input_error(
        "a tunnel needs a domain: a base domain (the tunnel gets <id>.<base domain>) or a custom one");
  }
  if (!custom.empty() && !base.empty() && name_is_under(base, custom)) {
    throw registry_input_error("custom domain " + quoted(custom) + " contains the base domain " + quoted(base) +
                               ": every tunnel's default domain would be under it");
  }

  write_transaction tx(db_, "create a tunnel");
  const auto now = now_seconds();
  tunnel_token token;
  token.version = 1;
  std::string domain;
  for (int attempt = 1;; ++attempt) {
    token.tunnel_id = random_tunnel_id();
    domain = custom.empty() ? checked_dns_name(token.tunnel_id + "." + base, "domain", 2) : custom;
    statement st(db_, "SELECT 1 FROM tunnels WHERE id = ?1 OR (?2 AND domain = ?3)", "create a tunnel");
    st.bind(1, token.tunnel_id).bind(2, std::int64_t{custom.empty()}).bind(3, domain);
    if (!st.step()) break;
    if (attempt == max_id_attempts) {
      throw registry_error("tunnel registry " + file_of(db_) + ": no unused tunnel id after " +
                           std::to_string(max_id_attempts) + " random tries");
    }
  }
  check_domain_free(db_, domain);

  statement insert(db_, "INSERT INTO tunnels (id, name, domain, created_at) VALUES (?1, ?2, ?3, ?4)", "create a tunnel");
  insert.bind(1, token.tunnel_id).bind(2, name).bind(3, domain).bind(4, now);
  insert.step();
  token.secret = random_token_secret();
  insert_token_version(db_, token, now, "create a tunnel");
  tx.commit();

  created out;
  out.tunnel = tunnel_record{token.tunnel_id, std::string(name), domain, now, std::nullopt, 1, now};
  out.token = issue(token);
  return out;
}

std::vector<tunnel_record> registry::list(bool include_archived) {
  statement st(db_,
               record_query(include_archived ? " ORDER BY t.created_at, t.id"
                                             : " WHERE t.archived_at IS NULL ORDER BY t.created_at, t.id"),
               "list tunnels");
  std::vector<tunnel_record> out;
  while (st.step()) out.push_back(record_from(st));
  return out;
}

std::optional<tunnel_record> registry::find(std::string_view id) { return find_record(db_, id, "find a tunnel"); }

std::optional<tunnel_record> registry::find_by_host(std::string_view host) {
  if (host.empty() || host.size() > 254) return std::nullopt;
  if (host.back() == '.') host.remove_suffix(1);
  std::string name(host);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  // The name itself, then each parent: the first live match is the longest.
  statement st(db_, record_query(" WHERE t.domain = ?1 AND t.archived_at IS NULL"),
               "find a tunnel by host name");
  std::string_view rest = name;
  while (!rest.empty()) {
    st.bind(1, rest);
    if (st.step()) return record_from(st);
    st.reset();
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return std::nullopt;
}

std::string registry::rotate_token(std::string_view id) {
  write_transaction tx(db_, "rotate a token");
  const auto record = find_record(db_, id, "rotate a token");
  if (!record) throw unknown_tunnel(db_, id);
  if (record->archived_at) throw registry_error("tunnel " + record->id + " is archived: it gets no new tokens");
  if (record->token_version == std::numeric_limits<std::uint32_t>::max()) {
    throw registry_error("tunnel " + record->id + " has used every token version");
  }
  tunnel_token token;
  token.tunnel_id = record->id;
  token.version = record->token_version + 1;
  token.secret = random_token_secret();
  insert_token_version(db_, token, now_seconds(), "rotate a token");
  tx.commit();
  return issue(token);
}

tunnel_record registry::archive(std::string_view id) {
  write_transaction tx(db_, "archive a tunnel");
  auto record = find_record(db_, id, "archive a tunnel");
  if (!record) throw unknown_tunnel(db_, id);
  if (record->archived_at) throw registry_error("tunnel " + record->id + " is already archived");
  const auto now = now_seconds();
  statement st(db_, "UPDATE tunnels SET archived_at = ?1 WHERE id = ?2", "archive a tunnel");
  st.bind(1, now).bind(2, record->id);
  st.step();
  tx.commit();
  record->archived_at = now;
  return *record;
}

auth_verdict registry::authenticate(std::string_view tunnel_id, std::uint32_t version,
                                    std::span<const std::uint8_t> exporter, const token_signature& signature) {
  const auto record = find_record(db_, tunnel_id, "authenticate a connector");
  if (!record) return auth_verdict::tunnel_unknown;
  if (record->archived_at) return auth_verdict::tunnel_archived;
  if (version == 0) return auth_verdict::token_unknown;  // versions start at 1: never issued
  if (version < record->token_version) return auth_verdict::token_rotated;
  if (version > record->token_version) return auth_verdict::token_unknown;
  statement st(db_, "SELECT public_key FROM token_versions WHERE tunnel_id = ?1 AND version = ?2",
               "authenticate a connector");
  st.bind(1, record->id).bind(2, std::int64_t{version});
  if (!st.step()) return auth_verdict::token_unknown;
  const auto stored = st.blob(0);
  token_public_key key;
  if (stored.size() != key.size()) return auth_verdict::token_unknown;
  std::copy(stored.begin(), stored.end(), key.begin());
  return verify_proof(key, record->id, version, exporter, signature) ? auth_verdict::ok : auth_verdict::bad_proof;
}

bool registry::changed() {
  // data_version moves only when another connection commits, which is exactly the question.
  const auto now = pragma_integer(db_, "PRAGMA data_version", "check for changes");
  const bool moved = now != data_version_;
  data_version_ = now;
  return moved;
}

}  // namespace mcpgate::tunnel
