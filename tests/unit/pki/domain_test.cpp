#include "pki/domain.hpp"

#include <gtest/gtest.h>

#include "pki/error.hpp"

namespace mcpgate::pki {
namespace {

std::string refusal(std::string_view domain) {
  try {
    normalize_domain(domain);
  } catch (const error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(PkiDomain, LowerCasesValidNames) {
  EXPECT_EQ(normalize_domain("abcd1234.tunnel.anthropic.com"), "abcd1234.tunnel.anthropic.com");
  EXPECT_EQ(normalize_domain("Example.TEST"), "example.test");
  EXPECT_EQ(normalize_domain("a-b.c1"), "a-b.c1");
}

TEST(PkiDomain, RefusesWithTheReason) {
  EXPECT_EQ(refusal("*.example.test"),
            "invalid domain \"*.example.test\": give the domain without a wildcard; the certificate covers the domain "
            "and *.domain");
  EXPECT_EQ(refusal("example.test."), "invalid domain \"example.test.\": remove the trailing dot");
  EXPECT_EQ(refusal(".example.test"), "invalid domain \".example.test\": remove the leading dot");
  EXPECT_EQ(refusal(""), "invalid domain \"\": empty (expected a DNS name, e.g. abcd1234.tunnel.anthropic.com)");
  EXPECT_EQ(refusal("localhost"),
            "invalid domain \"localhost\": needs at least two labels (a wildcard certificate over a single label is "
            "refused by TLS clients)");
  EXPECT_EQ(refusal("10.0.0.1"), "invalid domain \"10.0.0.1\": an IP address is not a domain");
  EXPECT_EQ(refusal("a..b"), "invalid domain \"a..b\": empty label (two dots in a row)");
  EXPECT_EQ(refusal("-a.b"), "invalid domain \"-a.b\": label \"-a\" starts or ends with '-'");
  EXPECT_EQ(refusal("ex ample.test"),
            "invalid domain \"ex ample.test\": character \" \" is not allowed (letters, digits, '-' and '.' only)");
  EXPECT_EQ(refusal("a_b.test"),
            "invalid domain \"a_b.test\": character \"_\" is not allowed (letters, digits, '-' and '.' only)");
  EXPECT_EQ(refusal("evil\n.test"),
            "invalid domain \"evil\\x0a.test\": character \"\\x0a\" is not allowed (letters, digits, '-' and '.' only)");
  std::string long_label(64, 'a');
  long_label.append(".test");
  EXPECT_NE(refusal(long_label).find("is longer than 63 characters"), std::string::npos);
  // The echo of the input is cut short: a refusal never repeats an unbounded input.
  std::string expected = "invalid domain \"";
  expected.append(256, 'a');
  expected.append("...\": longer than 253 characters");
  EXPECT_EQ(refusal(std::string(300, 'a')), expected);
}

}  // namespace
}  // namespace mcpgate::pki
