#include "tunnel/handshake.hpp"

#include <gtest/gtest.h>

namespace mcpgate::tunnel {
namespace {

TEST(TunnelHandshake, HelloRoundTrips) {
  connector_hello hello;
  hello.tunnel_id = "abc123def456";
  hello.version = 7;
  for (std::size_t i = 0; i < hello.proof.size(); ++i) hello.proof[i] = static_cast<std::uint8_t>(i * 3);
  hello.connector = "host-1";
  hello.connection = 3;
  std::string error;
  const auto back = decode_hello(encode_hello(hello), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->tunnel_id, hello.tunnel_id);
  EXPECT_EQ(back->version, 7u);
  EXPECT_EQ(back->proof, hello.proof);
  EXPECT_EQ(back->connector, "host-1");
  EXPECT_EQ(back->connection, 3u);
}

TEST(TunnelHandshake, BadHellosSayWhy) {
  const std::string proof(86, 'A');
  const struct {
    std::string json;
    std::string why;
  } cases[] = {
      {"not json", "not JSON"},
      {"[]", "expected a JSON object"},
      {R"({"version":1,"proof":")" + proof + R"(","connector":"c","connection":0})", "\"tunnel\""},
      {R"({"tunnel":"t","version":-1,"proof":")" + proof + R"(","connector":"c","connection":0})", "\"version\""},
      {R"({"tunnel":"t","version":4294967296,"proof":")" + proof + R"(","connector":"c","connection":0})",
       "\"version\" out of range"},
      {R"({"tunnel":"t","version":1,"proof":"AAAA","connector":"c","connection":0})", "Ed25519 signature"},
      {R"({"tunnel":"t","version":1,"proof":")" + proof + R"(","connector":"a\u0007b","connection":0})",
       "control"},
      {R"({"tunnel":"t","version":1,"proof":")" + proof + R"(","connector":"c","connection":5000})",
       "\"connection\" out of range"},
      {std::string(5000, ' '), "larger than 4096"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(decode_hello(c.json, error)) << c.json;
    EXPECT_NE(error.find(c.why), std::string::npos) << c.json << " -> " << error;
  }
}

TEST(TunnelHandshake, VerdictRoundTrips) {
  edge_verdict v{"token_rotated", "use the new token", ""};
  std::string error;
  auto back = decode_verdict(encode_verdict(v), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->result, "token_rotated");
  EXPECT_EQ(back->message, "use the new token");
  EXPECT_EQ(back->domain, "");
  v = {"ok", "connected", "abc.tunnels.example.com"};
  back = decode_verdict(encode_verdict(v), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->domain, "abc.tunnels.example.com");
  EXPECT_FALSE(decode_verdict(R"({"result":1,"message":""})", error));
}

}  // namespace
}  // namespace mcpgate::tunnel
