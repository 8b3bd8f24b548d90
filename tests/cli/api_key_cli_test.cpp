// `mcpgate api-key`: a key on stdout alone, its config entry on stderr, and `hash` agreeing
// with that entry; the entry loads as config and accepts exactly that key.
#include <gtest/gtest.h>

#include <regex>

#include "auth/api_key.hpp"
#include "cli_support.hpp"
#include "config/loader.hpp"

namespace mcpgate::cli_test {
namespace {

TEST(ApiKeyCli, CreatePrintsTheKeyAloneAndAnEntryThatAcceptsIt) {
  const auto r = run_mcpgate({"api-key", "create", "--name", "ci-bot", "--routes", "files,docs", "--tools", "read_*"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch key;
  ASSERT_TRUE(std::regex_match(r.out, key, std::regex("(mgk_[A-Za-z0-9_-]{43})\n"))) << r.out;
  std::smatch entry;
  ASSERT_TRUE(std::regex_search(r.err, entry, std::regex(R"(  - \{ name: "ci-bot", sha256: ([0-9a-f]{64}), routes: \["files", "docs"\], tools: \["read_\*"\] \})")))
      << r.err;
  EXPECT_EQ(entry[1].str(), auth::to_hex(auth::sha256_of(key[1].str())));

  const auto hashed = run_mcpgate({"api-key", "hash"}, key[1].str() + "\n");
  ASSERT_EQ(hashed.exit_code, 0) << hashed.err;
  EXPECT_EQ(hashed.out, entry[1].str() + "\n");

  // The printed entry is valid config that finds the key.
  const auto yaml = "listeners: [{ address: \":8080\" }]\napi_keys:\n" + entry[0].str() +
                    "\nroutes:\n  files: { upstream: \"http://10.0.0.5:1\", auth: { api_keys: true } }\n"
                    "  docs: { upstream: \"http://10.0.0.5:2\", auth: { api_keys: true } }\n";
  const auto loaded = config::load_string(yaml, "t.yaml");
  ASSERT_TRUE(loaded.ok()) << yaml;
  EXPECT_NE(auth::find_api_key(loaded.snapshot->api_keys, key[1].str()), nullptr);

  EXPECT_EQ(run_mcpgate({"api-key", "create", "--name", "has space"}).exit_code, 2);
  EXPECT_EQ(run_mcpgate({"api-key", "hash"}, "").exit_code, 2);
}

}  // namespace
}  // namespace mcpgate::cli_test
