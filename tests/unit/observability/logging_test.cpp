#include "observability/logging.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace mcpgate::observability {
namespace {

TEST(JsonEscape, ClientControlledTextCannotBreakTheLogLine) {
  const std::string hostile = "evil\"},\"status\":200,\n\r\t\\\x01\x7f";
  const auto escaped = json_escape(hostile);
  EXPECT_EQ(escaped.find('\n'), std::string::npos);
  // Round trip through a real JSON parser gives the original text back.
  auto parsed = boost::json::parse("{\"v\":\"" + escaped + "\"}");
  EXPECT_EQ(parsed.at("v").as_string(), hostile);
}

}  // namespace
}  // namespace mcpgate::observability
