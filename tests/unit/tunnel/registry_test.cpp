// The edge's tunnel registry on a real SQLite file: tunnels and their domains, token
// rotation and archive as the edge's authenticate() sees them, domain rules (syntax,
// overlap, retired forever), change polling between two connections, file mode, reopening.
#include <gtest/gtest.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "support/test_pki.hpp"
#include "tunnel/registry.hpp"

namespace mcpgate::tunnel {
namespace {

class TunnelRegistry : public ::testing::Test {
 protected:
  ~TunnelRegistry() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path(const std::string& name = "registry.db") const { return (std::filesystem::path(dir_) / name).string(); }

  std::string dir_ = test::make_temp_dir("mcpgate-registry");
};

const std::vector<std::uint8_t> exporter{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

tunnel_token parsed(const std::string& text) {
  std::string error;
  auto token = parse_token(text, &error);
  EXPECT_TRUE(token) << error;
  return token.value_or(tunnel_token{});
}

// The edge's check of a connector holding `text`.
auth_verdict present(registry& reg, const std::string& text) {
  const auto token = parsed(text);
  return reg.authenticate(token.tunnel_id, token.version, exporter, sign_proof(token, exporter));
}

unsigned mode_of(const std::string& file) {
  struct stat st {};
  EXPECT_EQ(::stat(file.c_str(), &st), 0) << file;
  return st.st_mode & 07777;
}

// Runs SQL on the file behind the registry's back (a second writer, or an older/newer mcpgate).
void sql(const std::string& file, const std::string& statement) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const registry_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no registry_error";
  return {};
}

TEST_F(TunnelRegistry, CreateListAndFind) {
  registry reg(path());
  const auto a = reg.create("laptop", "tunnel.example.com");
  const auto b = reg.create("build box", "tunnel.example.com");
  for (const auto* c : {&a, &b}) {
    EXPECT_EQ(c->tunnel.id.size(), 12u);
    EXPECT_EQ(c->tunnel.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789"), std::string::npos);
    EXPECT_EQ(c->tunnel.domain, c->tunnel.id + ".tunnel.example.com");
    EXPECT_EQ(c->tunnel.token_version, 1u);
    EXPECT_FALSE(c->tunnel.archived_at);
    EXPECT_GT(c->tunnel.created_at, 1700000000);
    const auto token = parsed(c->token);
    EXPECT_EQ(token.tunnel_id, c->tunnel.id);
    EXPECT_EQ(token.version, 1u);
    EXPECT_EQ(present(reg, c->token), auth_verdict::ok);
  }
  EXPECT_NE(a.tunnel.id, b.tunnel.id);

  const auto all = reg.list();
  ASSERT_EQ(all.size(), 2u);
  std::set<std::string> ids{all[0].id, all[1].id};
  EXPECT_EQ(ids, (std::set<std::string>{a.tunnel.id, b.tunnel.id}));

  const auto found = reg.find(b.tunnel.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name, "build box");
  EXPECT_EQ(found->domain, b.tunnel.domain);
  EXPECT_EQ(found->token_version, 1u);
  EXPECT_EQ(found->token_rotated_at, found->created_at);
  EXPECT_FALSE(reg.find("nosuchtunnel"));
  EXPECT_FALSE(reg.find(""));
  EXPECT_FALSE(reg.find("'; DROP TABLE tunnels; --"));
}

TEST_F(TunnelRegistry, FindByHostMatchesTheDomainOrANameUnderIt) {
  registry reg(path());
  const auto a = reg.create("a", "", "a.example.com");
  const auto b = reg.create("b", "t.example.net");
  EXPECT_EQ(reg.find_by_host("a.example.com")->id, a.tunnel.id);
  EXPECT_EQ(reg.find_by_host("x.y.a.example.com")->id, a.tunnel.id);
  EXPECT_EQ(reg.find_by_host("X.A.Example.COM.")->id, a.tunnel.id);
  EXPECT_EQ(reg.find_by_host(b.tunnel.domain)->id, b.tunnel.id);
  EXPECT_FALSE(reg.find_by_host("example.com"));
  EXPECT_FALSE(reg.find_by_host("ba.example.com"));  // not a label boundary
  EXPECT_FALSE(reg.find_by_host("t.example.net"));
  EXPECT_FALSE(reg.find_by_host(""));
  EXPECT_FALSE(reg.find_by_host("."));
  EXPECT_FALSE(reg.find_by_host(std::string(300, 'a')));
}

TEST_F(TunnelRegistry, FindByHostPrefersTheLongestDomain) {
  // create() refuses nested live domains, so the nested one is written by hand: the lookup
  // must still be unambiguous if a registry ever holds both.
  registry reg(path());
  const auto outer = reg.create("outer", "", "a.example.com");
  sql(path(), "INSERT INTO tunnels VALUES ('zzzzzzzzzzzz', 'inner', 'deep.a.example.com', 1, NULL);"
              "INSERT INTO token_versions VALUES ('zzzzzzzzzzzz', 1, zeroblob(32), 1);");
  EXPECT_EQ(reg.find_by_host("x.deep.a.example.com")->id, "zzzzzzzzzzzz");
  EXPECT_EQ(reg.find_by_host("deep.a.example.com")->id, "zzzzzzzzzzzz");
  EXPECT_EQ(reg.find_by_host("x.a.example.com")->id, outer.tunnel.id);
  reg.archive("zzzzzzzzzzzz");
  EXPECT_EQ(reg.find_by_host("x.deep.a.example.com")->id, outer.tunnel.id);
}

TEST_F(TunnelRegistry, ArchiveIsPermanentAndRetiresTheDomain) {
  registry reg(path());
  const auto a = reg.create("a", "", "mcp.example.com");
  const auto archived = reg.archive(a.tunnel.id);
  ASSERT_TRUE(archived.archived_at);
  EXPECT_EQ(archived.id, a.tunnel.id);

  EXPECT_NE(error_of([&] { reg.archive(a.tunnel.id); }).find("already archived"), std::string::npos);
  EXPECT_NE(error_of([&] { reg.rotate_token(a.tunnel.id); }).find("archived"), std::string::npos);
  EXPECT_EQ(present(reg, a.token), auth_verdict::tunnel_archived);
  EXPECT_FALSE(reg.find_by_host("mcp.example.com"));
  EXPECT_TRUE(reg.list(false).empty());
  ASSERT_EQ(reg.list(true).size(), 1u);
  EXPECT_TRUE(reg.find(a.tunnel.id)->archived_at);

  // The domain is never given out again, not even by another object on the same file.
  registry other(path());
  const auto error = error_of([&] { other.create("again", "", "MCP.example.com"); });
  EXPECT_NE(error.find("archived"), std::string::npos) << error;
  // A name under a retired domain is a different domain, and nothing live overlaps it.
  EXPECT_NO_THROW(other.create("child", "", "x.mcp.example.com"));
}

TEST_F(TunnelRegistry, RotationRefusesTheOldVersionAndAcceptsTheNew) {
  registry reg(path());
  const auto a = reg.create("a", "tunnel.example.com");
  const auto v2 = reg.rotate_token(a.tunnel.id);
  EXPECT_EQ(parsed(v2).version, 2u);
  EXPECT_EQ(present(reg, a.token), auth_verdict::token_rotated);
  EXPECT_EQ(present(reg, v2), auth_verdict::ok);
  const auto v3 = reg.rotate_token(a.tunnel.id);
  EXPECT_EQ(present(reg, v2), auth_verdict::token_rotated);
  EXPECT_EQ(present(reg, v3), auth_verdict::ok);
  EXPECT_EQ(reg.find(a.tunnel.id)->token_version, 3u);

  auto token = parsed(v3);
  token.version = 4;  // not issued yet
  EXPECT_EQ(reg.authenticate(token.tunnel_id, 4, exporter, sign_proof(token, exporter)), auth_verdict::token_unknown);
  token.version = 0;
  EXPECT_EQ(reg.authenticate(token.tunnel_id, 0, exporter, sign_proof(token, exporter)), auth_verdict::token_unknown);

  // The current version with a proof the key did not make.
  token = parsed(v3);
  auto signature = sign_proof(token, exporter);
  signature[0] ^= 1;
  EXPECT_EQ(reg.authenticate(token.tunnel_id, 3, exporter, signature), auth_verdict::bad_proof);
  auto other_exporter = exporter;
  other_exporter[0] ^= 1;
  EXPECT_EQ(reg.authenticate(token.tunnel_id, 3, other_exporter, sign_proof(token, exporter)), auth_verdict::bad_proof);
  // The old secret presented as the new version.
  auto old = parsed(a.token);
  old.version = 3;
  EXPECT_EQ(reg.authenticate(old.tunnel_id, 3, exporter, sign_proof(old, exporter)), auth_verdict::bad_proof);
}

TEST_F(TunnelRegistry, UnknownTunnels) {
  registry reg(path());
  tunnel_token token{"nosuchtunnel", 1, random_token_secret()};
  EXPECT_EQ(reg.authenticate("nosuchtunnel", 1, exporter, sign_proof(token, exporter)), auth_verdict::tunnel_unknown);
  EXPECT_EQ(reg.authenticate("", 1, exporter, sign_proof(token, exporter)), auth_verdict::tunnel_unknown);
  EXPECT_NE(error_of([&] { reg.rotate_token("nosuchtunnel"); }).find("no tunnel \"nosuchtunnel\""), std::string::npos);
  EXPECT_NE(error_of([&] { reg.archive("nosuchtunnel"); }).find("no tunnel"), std::string::npos);
  EXPECT_NE(error_of([&] { reg.archive("Bad Id!"); }).find("not a tunnel id"), std::string::npos);
}

TEST_F(TunnelRegistry, OverlappingDomainsAreRefused) {
  registry reg(path());
  const auto a = reg.create("a", "", "mcp.example.com");
  auto error = error_of([&] { reg.create("b", "", "x.mcp.example.com"); });
  EXPECT_NE(error.find("is under \"mcp.example.com\", the domain of tunnel " + a.tunnel.id), std::string::npos) << error;
  error = error_of([&] { reg.create("b", "", "example.com"); });
  EXPECT_NE(error.find("contains \"mcp.example.com\""), std::string::npos) << error;
  error = error_of([&] { reg.create("b", "", "mcp.example.com"); });
  EXPECT_NE(error.find("taken by tunnel " + a.tunnel.id), std::string::npos) << error;
  EXPECT_NO_THROW(reg.create("b", "", "other.example.com"));
  // A default domain <id>.t.example.org would be under a live custom domain example.org.
  reg.create("c", "", "example.org");
  EXPECT_NE(error_of([&] { reg.create("d", "t.example.org"); }).find("is under \"example.org\""), std::string::npos);
  // A custom domain containing the base domain would swallow every default domain.
  try {
    reg.create("e", "t.example.net", "example.net");
    ADD_FAILURE() << "accepted";
  } catch (const registry_input_error& e) {
    EXPECT_NE(std::string(e.what()).find("contains the base domain"), std::string::npos) << e.what();
  }
  EXPECT_EQ(reg.list().size(), 3u);
}

TEST_F(TunnelRegistry, MalformedDomainsAndNamesAreInputErrors) {
  registry reg(path());
  const std::vector<std::string> bad{"",         "-a.example.com", "a-.example.com",  "a..example.com", ".a.example.com",
                                     "a.com.",   "a_b.example.com", "*.example.com",  "10.0.0.1",       "com",
                                     "a b.com",  std::string(64, 'a') + ".com",      std::string(250, 'a') + ".com"};
  for (const auto& domain : bad) {
    if (domain.empty()) continue;  // empty custom = use the base domain
    EXPECT_THROW(reg.create("x", "", domain), registry_input_error) << domain;
  }
  EXPECT_THROW(reg.create("x", "a_b.com"), registry_input_error);
  const std::string l60(60, 'a');
  EXPECT_THROW(reg.create("x", l60 + "." + l60 + "." + l60 + "." + l60), registry_input_error);  // + "<id>." > 253
  EXPECT_THROW(reg.create("x", ""), registry_input_error);                      // no domain at all
  EXPECT_THROW(reg.create("", "t.example.com"), registry_input_error);
  EXPECT_THROW(reg.create("a\x1b[31m", "t.example.com"), registry_input_error);
  EXPECT_THROW(reg.create(std::string(101, 'n'), "t.example.com"), registry_input_error);
  EXPECT_TRUE(reg.list().empty());

  EXPECT_EQ(reg.create("x", "", "MCP.Example.COM").tunnel.domain, "mcp.example.com");
  EXPECT_EQ(reg.create("y", "", "xn--bcher-kva.example").tunnel.domain, "xn--bcher-kva.example");
  const auto z = reg.create("z", "Localhost");
  EXPECT_EQ(z.tunnel.domain, z.tunnel.id + ".localhost");
}

TEST_F(TunnelRegistry, ChangedSeesWritesFromAnotherConnection) {
  registry edge(path());
  registry cli(path());
  EXPECT_FALSE(edge.changed());
  const auto a = cli.create("a", "tunnel.example.com");
  EXPECT_TRUE(edge.changed());
  EXPECT_FALSE(edge.changed());
  EXPECT_EQ(edge.find(a.tunnel.id)->name, "a");
  cli.rotate_token(a.tunnel.id);
  EXPECT_TRUE(edge.changed());
  cli.archive(a.tunnel.id);
  EXPECT_TRUE(edge.changed());
  EXPECT_FALSE(edge.changed());
  // A fresh object starts from what is there.
  registry late(path());
  EXPECT_FALSE(late.changed());
}

TEST_F(TunnelRegistry, FilesAreOwnerOnly) {
  registry reg(path());
  reg.create("a", "tunnel.example.com");
  EXPECT_EQ(mode_of(path()), 0600u);
  // While a connection is open the WAL and its index exist, with the database's mode.
  EXPECT_EQ(mode_of(path() + "-wal"), 0600u);
  EXPECT_EQ(mode_of(path() + "-shm"), 0600u);
}

TEST_F(TunnelRegistry, ReopeningKeepsEverything) {
  std::string token;
  std::string id;
  {
    registry reg(path());
    const auto a = reg.create("a", "tunnel.example.com");
    id = a.tunnel.id;
    token = reg.rotate_token(id);
    reg.create("b", "tunnel.example.com");
  }
  registry reg(path());
  EXPECT_EQ(reg.list().size(), 2u);
  EXPECT_EQ(reg.find(id)->token_version, 2u);
  EXPECT_EQ(present(reg, token), auth_verdict::ok);
}

TEST_F(TunnelRegistry, SchemaVersionIsRecordedAndANewerOneRefused) {
  { registry reg(path()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);

  sql(path(), "PRAGMA user_version = 7");
  const auto error = error_of([&] { registry again(path()); });
  EXPECT_NE(error.find(path()), std::string::npos) << error;
  EXPECT_NE(error.find("schema version 7 is newer"), std::string::npos) << error;
}

TEST_F(TunnelRegistry, OpenErrorsNameTheFile) {
  const auto missing_dir = path("no/such/dir/registry.db");
  auto error = error_of([&] { registry reg(missing_dir); });
  EXPECT_NE(error.find(missing_dir), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(missing_dir));

  const auto not_sqlite = path("notes.txt");
  std::ofstream(not_sqlite) << "this is not a database, but it is long enough to have a header of sorts..........\n";
  error = error_of([&] { registry reg(not_sqlite); });
  EXPECT_NE(error.find("notes.txt"), std::string::npos) << error;
  EXPECT_NE(error.find("not a database"), std::string::npos) << error;
}

TEST_F(TunnelRegistry, VerdictNamesAreStable) {
  EXPECT_EQ(to_string(auth_verdict::ok), "ok");
  EXPECT_EQ(to_string(auth_verdict::tunnel_unknown), "tunnel_unknown");
  EXPECT_EQ(to_string(auth_verdict::token_rotated), "token_rotated");
  EXPECT_EQ(to_string(auth_verdict::token_unknown), "token_unknown");
  EXPECT_EQ(to_string(auth_verdict::tunnel_archived), "tunnel_archived");
  EXPECT_EQ(to_string(auth_verdict::bad_proof), "bad_proof");
}

}  // namespace
}  // namespace mcpgate::tunnel
