// `mcpgate api-key`: a key on stdout alone, its config entry on stderr, and `hash` agreeing
// with that entry; the entry loads as config and accepts exactly that key.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "auth/api_key.hpp"
#include "cli_support.hpp"
#include "config/loader.hpp"

namespace mcpgate::cli_test {
namespace {

TEST(ApiKeyCli, CreatePrintsTheKeyAloneAndAnEntryThatAcceptsIt) {
  const auto r = run_mcpgate({"api-key", "create", "--name", "ci-bot", "--routes", "files,docs", "--tools", "read_*"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // stdout: the key alone. (No std::regex: g++ 12 warns falsely on it in the ASan build.)
  ASSERT_EQ(r.out.size(), 4u + 43u + 1u) << r.out;
  const auto key = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(key.substr(0, 4), "mgk_");
  EXPECT_TRUE(std::all_of(key.begin() + 4, key.end(),
                          [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }));
  const auto digest = auth::to_hex(auth::sha256_of(key));
  const std::string entry = "  - { name: \"ci-bot\", sha256: " + digest +
                            ", routes: [\"files\", \"docs\"], tools: [\"read_*\"] }";
  EXPECT_NE(r.err.find(entry + "\n"), std::string::npos) << r.err;

  const auto hashed = run_mcpgate({"api-key", "hash"}, key + "\n");
  ASSERT_EQ(hashed.exit_code, 0) << hashed.err;
  EXPECT_EQ(hashed.out, digest + "\n");

  // The printed entry is valid config that finds the key.
  const auto yaml = "listeners: [{ address: \":8080\" }]\napi_keys:\n" + entry +
                    "\nroutes:\n  files: { upstream: \"http://10.0.0.5:1\", auth: { api_keys: true } }\n"
                    "  docs: { upstream: \"http://10.0.0.5:2\", auth: { api_keys: true } }\n";
  const auto loaded = config::load_string(yaml, "t.yaml");
  ASSERT_TRUE(loaded.ok()) << yaml;
  EXPECT_NE(auth::find_api_key(loaded.snapshot->api_keys, key), nullptr);

  EXPECT_EQ(run_mcpgate({"api-key", "create", "--name", "has space"}).exit_code, 2);
  EXPECT_EQ(run_mcpgate({"api-key", "hash"}, "").exit_code, 2);
}

}  // namespace
}  // namespace mcpgate::cli_test
