// Files: modes set exactly (whatever the umask), atomic replacement, bounded reads, and
// the "could uid U read this" judgement doctor uses for the container case.
#include "pki/files.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "pki/error.hpp"
#include "pki_test_util.hpp"

namespace mcpgate::pki {
namespace {

using testing::make_ca;
using testing::make_server;
using testing::scratch_dir;

struct stat stat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st;
}

unsigned mode(const std::string& path) { return stat_of(path).st_mode & 07777; }

// Restores the process umask at the end of a test.
class umask_guard {
 public:
  explicit umask_guard(mode_t m) : old_(::umask(m)) {}
  ~umask_guard() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(PkiFiles, ModesAreExactWhateverTheUmask) {
  scratch_dir dir;
  for (mode_t mask : {mode_t{0}, mode_t{077}, mode_t{022}}) {
    umask_guard guard(mask);
    write_key_file(dir / "owner.key", "k", mode_of(key_access::owner));
    write_key_file(dir / "group.key", "k", mode_of(key_access::group));
    write_key_file(dir / "world.key", "k", mode_of(key_access::world));
    write_cert_file(dir / "tls.crt", "c");
    EXPECT_EQ(mode(dir / "owner.key"), 0600u) << "umask " << mask;
    EXPECT_EQ(mode(dir / "group.key"), 0640u);
    EXPECT_EQ(mode(dir / "world.key"), 0644u);
    EXPECT_EQ(mode(dir / "tls.crt"), 0644u);
  }
}

TEST(PkiFiles, AtomicReplaceLeavesNoTemporaryFiles) {
  scratch_dir dir;
  const std::string path = dir / "tls.crt";
  write_cert_file(path, "first");
  const ino_t first_inode = stat_of(path).st_ino;
  // A reader holding the old file keeps reading the old contents: the new file is a new inode.
  std::ifstream reader(path);
  write_cert_file(path, "second, longer");
  EXPECT_NE(stat_of(path).st_ino, first_inode);
  std::string old_contents;
  std::getline(reader, old_contents);
  EXPECT_EQ(old_contents, "first");
  EXPECT_EQ(read_file(path, 100), "second, longer");
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
    EXPECT_EQ(entry.path().filename(), "tls.crt");
  }
  EXPECT_EQ(entries, 1u);
}

TEST(PkiFiles, WriteErrorsNameTheFile) {
  scratch_dir dir;
  const std::string path = dir / "missing/tls.key";
  try {
    write_key_file(path, "k");
    FAIL();
  } catch (const error& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(std::string(e.what()), path + ": cannot create a temporary file beside it: No such file or directory");
  }
}

TEST(PkiFiles, ReadsAreBounded) {
  scratch_dir dir;
  const std::string path = test::write_file(dir / "big.pem", std::string(5000, 'x'));
  EXPECT_EQ(read_file(path, 5000).size(), 5000u);
  try {
    read_file(path, 4999);
    FAIL();
  } catch (const error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": larger than 4999 bytes: not a certificate or key file");
  }
  try {
    read_file(dir / "absent.pem", 10);
    FAIL();
  } catch (const error& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "absent.pem") + ": cannot open: No such file or directory");
  }
  try {
    read_file(dir.path(), 10);
    FAIL();
  } catch (const error& e) {
    EXPECT_EQ(std::string(e.what()), dir.path() + ": not a regular file");
  }
}

TEST(PkiFiles, MakeDirectoryIsTraversableByOthers) {
  scratch_dir dir;
  umask_guard guard(077);
  make_directory(dir / "a/b");
  EXPECT_EQ(mode(dir / "a/b"), 0755u);
  make_directory(dir / "a/b");  // exists: fine
  EXPECT_EQ(file_mode(dir / "a/b/none"), -1);
}

// The judgement is made from the file's numbers, so it holds whoever runs the test.
TEST(PkiFiles, ReadableByAnotherUid) {
  scratch_dir dir;
  ::chmod(dir.path().c_str(), 0755);  // mkdtemp makes it 0700
  const std::string key = dir / "tls.key";
  write_key_file(key, "k", 0600);
  const struct stat st = stat_of(key);
  const std::string owner = std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);

  const access_answer container = readable_by(key, 65532, 65532);
  EXPECT_FALSE(container.readable);
  EXPECT_EQ(container.detail, key + " is 0600 owner " + owner + ": not readable by uid 65532 gid 65532");
  EXPECT_TRUE(readable_by(key, st.st_uid, st.st_gid).readable) << "the owner";
  EXPECT_TRUE(readable_by(key, 0, 0).readable);

  write_key_file(key, "k", 0644);
  const access_answer world = readable_by(key, 65532, 65532);
  EXPECT_TRUE(world.readable);
  EXPECT_EQ(world.detail, key + " is 0644 owner " + owner + ": readable by uid 65532 gid 65532");

  write_key_file(key, "k", 0640);
  EXPECT_FALSE(readable_by(key, 65532, 65532).readable);
  EXPECT_TRUE(readable_by(key, 65532, st.st_gid).readable) << "group read";

  // The directory must be searchable too.
  ::chmod(dir.path().c_str(), 0700);
  write_key_file(key, "k", 0644);
  const access_answer closed = readable_by(key, 65532, 65532);
  EXPECT_FALSE(closed.readable);
  EXPECT_EQ(closed.detail, "directory " + dir.path() + " is 0700 owner " + owner + ": uid 65532 gid 65532 cannot enter it");
  ::chmod(dir.path().c_str(), 0755);

  const access_answer missing = readable_by(dir / "none", 65532, 65532);
  EXPECT_FALSE(missing.readable);
  EXPECT_EQ(missing.detail, (dir / "none") + ": No such file or directory");
}

TEST(PkiFiles, KeyMatchesCert) {
  const issued ca = make_ca();
  const issued a = make_server(ca);
  const issued b = make_server(ca);
  EXPECT_TRUE(key_matches_cert(a.cert_pem, a.key_pem));
  EXPECT_FALSE(key_matches_cert(a.cert_pem, b.key_pem));
  EXPECT_FALSE(key_matches_cert(a.cert_pem, ca.key_pem));
  try {
    key_matches_cert(a.cert_pem, "garbage", "tls.crt", "tls.key");
    FAIL();
  } catch (const error& e) {
    EXPECT_EQ(e.file(), "tls.key");
  }
  EXPECT_THROW(key_matches_cert("garbage", a.key_pem, "tls.crt", "tls.key"), error);
}

}  // namespace
}  // namespace mcpgate::pki
