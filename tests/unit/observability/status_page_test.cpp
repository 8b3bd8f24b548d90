#include "observability/status_page.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>

#include "unit/config/config_test_util.hpp"

namespace mcpgate::observability {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

TEST(StatusPage, EmbeddedPageIsOneSelfContainedHtmlDocumentThatPollsStatusJson) {
  const std::string page = lower(status_page_html());
  ASSERT_FALSE(page.empty());
  EXPECT_TRUE(page.starts_with("<!doctype html>")) << page.substr(0, 80);
  EXPECT_NE(page.find("status.json"), std::string::npos);
  // Served offline from the admin listener: no scripts, styles, fonts or images from the net.
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("//cdn"), std::string::npos);
}

TEST(StatusPage, EmbeddedBytesAreTheSourceFile) {
  std::ifstream in(config::testing::source_path("src/observability/status_page.html"), std::ios::binary);
  ASSERT_TRUE(in) << "src/observability/status_page.html not found (set MCPGATE_SOURCE_DIR)";
  std::ostringstream file;
  file << in.rdbuf();
  EXPECT_EQ(file.str(), status_page_html());
}

}  // namespace
}  // namespace mcpgate::observability
