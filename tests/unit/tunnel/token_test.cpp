// Tunnel tokens: the text format (round trip, one spelling per token, refusals that never
// quote the secret) and the Ed25519 proof over a TLS exporter (verifies only for the same
// key, tunnel id, version and exporter).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/base64.hpp"
#include "tunnel/token.hpp"

namespace mcpgate::tunnel {
namespace {

std::vector<std::uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

token_secret secret_from_hex(std::string_view hex) {
  token_secret out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  }
  return out;
}

tunnel_token sample_token() {
  tunnel_token t;
  t.tunnel_id = "k3x9q2m7a1b4";
  t.version = 3;
  t.secret = random_token_secret();
  return t;
}

// What parse_token says about `text`, checked to be a refusal.
std::string refusal(const std::string& text) {
  std::string error;
  EXPECT_FALSE(parse_token(text, &error)) << text;
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

TEST(TunnelToken, FormatThenParseGivesTheSameToken) {
  const auto token = sample_token();
  const auto text = format_token(token);
  EXPECT_EQ(text.rfind("mgt1_k3x9q2m7a1b4_3_", 0), 0u) << text;
  EXPECT_EQ(text.size(), std::string("mgt1_k3x9q2m7a1b4_3_").size() + 43);
  std::string error;
  const auto parsed = parse_token(text, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->tunnel_id, token.tunnel_id);
  EXPECT_EQ(parsed->version, token.version);
  EXPECT_EQ(parsed->secret, token.secret);
}

TEST(TunnelToken, SurroundingWhitespaceOfATokenFileIsIgnored) {
  const auto token = sample_token();
  const auto text_of = format_token(token);
  for (const std::string& text : {text_of + "\n", text_of + "\r\n", "  " + text_of + "\t\n"}) {
    const auto parsed = parse_token(text);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->secret, token.secret);
  }
}

TEST(TunnelToken, SecretsWithUnderscoreAndDashRoundTrip) {
  // base64url's '_' is also the separator: the secret is whatever follows the version.
  tunnel_token token;
  token.tunnel_id = "a";
  token.version = 4294967295u;
  token.secret.fill(0xff);  // "____..."
  token.secret[0] = 0xfb;   // "-"
  const auto text = format_token(token);
  EXPECT_NE(text.find("_-"), std::string::npos) << text;
  const auto parsed = parse_token(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->version, 4294967295u);
  EXPECT_EQ(parsed->secret, token.secret);
  EXPECT_EQ(format_token(*parsed), text);
}

TEST(TunnelToken, RefusalsSayWhichPartIsWrong) {
  const std::string secret = core::base64url_encode(std::string(32, 'x'));
  EXPECT_NE(refusal("").find("empty"), std::string::npos);
  EXPECT_NE(refusal("   \n").find("empty"), std::string::npos);
  EXPECT_NE(refusal("hello").find("not an mcpgate tunnel token"), std::string::npos);
  EXPECT_NE(refusal("mgt2_abc_1_" + secret).find("not an mcpgate tunnel token"), std::string::npos);
  EXPECT_NE(refusal("MGT1_abc_1_" + secret).find("not an mcpgate tunnel token"), std::string::npos);
  EXPECT_NE(refusal("mgt1_abc").find("missing parts"), std::string::npos);
  EXPECT_NE(refusal("mgt1_abc_1").find("missing parts"), std::string::npos);
  for (const std::string& id : std::vector<std::string>{"", "ABC", "ab-c", "ab.c", std::string(64, 'a')}) {
    EXPECT_NE(refusal("mgt1_" + id + "_1_" + secret).find("tunnel id"), std::string::npos) << id;
  }
  for (const char* v : {"", "0", "01", "-1", "+1", "1x", "4294967296", "99999999999"}) {
    EXPECT_NE(refusal("mgt1_abc_" + std::string(v) + "_" + secret).find("version"), std::string::npos) << v;
  }
  for (const std::string& s : std::vector<std::string>{"", secret.substr(1), secret + "A", secret + "=",
                              core::base64url_encode(std::string(31, 'x')), secret.substr(0, 42) + "+",
                              secret.substr(0, 20) + " " + secret.substr(21)}) {
    EXPECT_NE(refusal("mgt1_abc_1_" + s).find("secret"), std::string::npos) << s;
  }
  // The last of 43 characters carries 2 unused bits: only zeros is the token's spelling.
  std::string noncanonical = secret;
  noncanonical.back() = noncanonical.back() == 'A' ? 'B' : static_cast<char>(noncanonical.back() + 1);
  EXPECT_NE(refusal("mgt1_abc_1_" + noncanonical).find("secret"), std::string::npos);
  EXPECT_NE(refusal("mgt1_abc_1_" + secret + std::string(200, 'A')).find("too long"), std::string::npos);
}

TEST(TunnelToken, RefusalsNeverQuoteTheSecret) {
  const auto text = format_token(sample_token());
  // After the third '_': base64url secrets may hold '_' themselves.
  std::size_t cut = 0;
  for (int i = 0; i < 3; ++i) cut = text.find('_', cut) + 1;
  const std::string secret_part = text.substr(cut);
  ASSERT_EQ(secret_part.size(), 43u);
  const std::vector<std::string> broken{
      text.substr(0, text.size() - 1),         // secret one character short
      text + "x",                              // one too many
      "mgt1_K3X9Q2M7A1B4_3_" + secret_part,    // bad id
      "mgt1_k3x9q2m7a1b4_03_" + secret_part,   // bad version
      "mgt0" + text.substr(4),                 // bad prefix
  };
  for (const auto& b : broken) {
    const auto error = refusal(b);
    EXPECT_EQ(error.find(secret_part.substr(0, 12)), std::string::npos) << error;
    EXPECT_EQ(error.find(secret_part.substr(20, 12)), std::string::npos) << error;
  }
}

TEST(TunnelToken, PublicKeyIsTheEd25519KeyOfTheSeed) {
  // RFC 8032 section 7.1, test 1.
  const auto secret = secret_from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const auto key = public_key_of(secret);
  const auto expected = secret_from_hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_TRUE(std::equal(key.begin(), key.end(), expected.begin()));
}

TEST(TunnelToken, ProofVerifiesForTheSameKeyTunnelVersionAndExporter) {
  const auto token = sample_token();
  const auto key = public_key_of(token.secret);
  const auto exporter = bytes_of("0123456789abcdef0123456789abcdef");
  const auto signature = sign_proof(token, exporter);
  EXPECT_TRUE(verify_proof(key, token.tunnel_id, token.version, exporter, signature));
  EXPECT_TRUE(verify_proof(key, token.tunnel_id, token.version, {}, sign_proof(token, {})));
}

TEST(TunnelToken, ProofFailsForAnythingElse) {
  const auto token = sample_token();
  const auto key = public_key_of(token.secret);
  const auto exporter = bytes_of("0123456789abcdef0123456789abcdef");
  const auto signature = sign_proof(token, exporter);
  auto other_exporter = exporter;
  other_exporter[31] ^= 1;
  EXPECT_FALSE(verify_proof(key, token.tunnel_id, token.version, other_exporter, signature));
  EXPECT_FALSE(verify_proof(key, token.tunnel_id, token.version, bytes_of("0123456789abcdef"), signature));
  EXPECT_FALSE(verify_proof(key, token.tunnel_id, token.version + 1, exporter, signature));
  EXPECT_FALSE(verify_proof(key, token.tunnel_id, token.version - 1, exporter, signature));
  EXPECT_FALSE(verify_proof(key, "k3x9q2m7a1b5", token.version, exporter, signature));
  EXPECT_FALSE(verify_proof(key, "", token.version, exporter, signature));
  EXPECT_FALSE(verify_proof(public_key_of(random_token_secret()), token.tunnel_id, token.version, exporter, signature));
  for (std::size_t i = 0; i < signature.size(); ++i) {
    auto tampered = signature;
    tampered[i] ^= 0x40;
    EXPECT_FALSE(verify_proof(key, token.tunnel_id, token.version, exporter, tampered)) << "byte " << i;
  }
}

TEST(TunnelToken, FieldsCannotShiftIntoEachOther) {
  // Without lengths, ("a1", v, e) and ("a", v', e') sign the same bytes when v' = '1' and the
  // first three bytes of v, and e' = the last byte of v followed by e.
  tunnel_token token;
  token.tunnel_id = "a1";
  token.version = 0x00000102;
  token.secret = random_token_secret();
  const auto exporter = bytes_of("exporter");
  const auto signature = sign_proof(token, exporter);
  std::vector<std::uint8_t> shifted_exporter{0x02};
  shifted_exporter.insert(shifted_exporter.end(), exporter.begin(), exporter.end());
  const std::uint32_t shifted_version = 0x31000001;  // '1', 0x00, 0x00, 0x01
  EXPECT_FALSE(verify_proof(public_key_of(token.secret), "a", shifted_version, shifted_exporter, signature));
  EXPECT_TRUE(verify_proof(public_key_of(token.secret), "a1", 0x00000102, exporter, signature));
}

TEST(TunnelToken, VerifyNeverThrowsOnGarbage) {
  token_public_key zero_key{};
  token_signature zero_signature{};
  std::vector<std::uint8_t> big(1 << 20, 0xab);
  EXPECT_NO_THROW(EXPECT_FALSE(verify_proof(zero_key, "abc", 1, big, zero_signature)));
  token_public_key ones;
  ones.fill(0xff);
  token_signature junk;
  junk.fill(0xff);
  EXPECT_NO_THROW(EXPECT_FALSE(verify_proof(ones, std::string(5000, '\0'), 0, {}, junk)));
}

TEST(TunnelToken, RandomSecretsDiffer) { EXPECT_NE(random_token_secret(), random_token_secret()); }

TEST(TunnelTokenBase64url, OneSpellingPerValue) {
  EXPECT_EQ(core::base64url_encode(""), "");
  EXPECT_EQ(core::base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(core::base64url_decode("-_8"), std::string("\xfb\xff"));
  EXPECT_FALSE(core::base64url_decode("-_9"));   // unused bits set
  EXPECT_FALSE(core::base64url_decode("-_8="));  // padding
  EXPECT_FALSE(core::base64url_decode("+/8"));   // the other alphabet
  EXPECT_FALSE(core::base64url_decode("-_ 8"));  // whitespace
  EXPECT_FALSE(core::base64url_decode("A"));     // no base64 text has this length
}

}  // namespace
}  // namespace mcpgate::tunnel
