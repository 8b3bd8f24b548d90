#include "tunnel/token.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <limits>
#include <memory>
#include <stdexcept>

#include "core/base64.hpp"

namespace mcpgate::tunnel {

namespace {

constexpr std::string_view prefix = "mgt1_";
constexpr std::string_view format_hint = "expected mgt1_<tunnel id>_<version>_<secret>";
// 5 + 63 + 1 + 10 + 1 + 43: anything longer is not a token, whatever it holds.
constexpr std::size_t max_token_size = 123;

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct md_ctx_free {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;

bool valid_tunnel_id(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Each variable-length part carries its length, so no two (tunnel id, version, exporter)
// triples give the same bytes: a signature for one can never verify as another.
std::string proof_message(std::string_view tunnel_id, std::uint32_t version, std::span<const std::uint8_t> exporter) {
  std::string m(proof_label);
  put_u32(m, static_cast<std::uint32_t>(tunnel_id.size()));
  m += tunnel_id;
  put_u32(m, version);
  put_u32(m, static_cast<std::uint32_t>(exporter.size()));
  m.append(reinterpret_cast<const char*>(exporter.data()), exporter.size());
  return m;
}

pkey_ptr private_key(const token_secret& secret) {
  pkey_ptr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, secret.data(), secret.size()));
  if (!key) throw std::runtime_error("Ed25519: cannot make a key from the token secret");
  return key;
}

std::optional<tunnel_token> refuse(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return std::nullopt;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

token_secret random_token_secret() {
  token_secret secret;
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  return secret;
}

std::string format_token(const tunnel_token& token) {
  const std::string_view secret(reinterpret_cast<const char*>(token.secret.data()), token.secret.size());
  std::string out(prefix);
  out += token.tunnel_id;
  out += '_';
  out += std::to_string(token.version);
  out += '_';
  out += core::base64url_encode(secret);
  return out;
}

std::optional<tunnel_token> parse_token(std::string_view text, std::string* error) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  // The messages below describe the parts and never quote them: the input may be a real
  // token with a typo, and the error may end up in a log.
  if (text.empty()) return refuse(error, "empty (" + std::string(format_hint) + ")");
  if (text.substr(0, prefix.size()) != prefix) {
    return refuse(error, "not an mcpgate tunnel token (" + std::string(format_hint) + ")");
  }
  if (text.size() > max_token_size) return refuse(error, "too long for a tunnel token");
  text.remove_prefix(prefix.size());
  // The id and the version hold no '_'; the secret may (base64url), so it is the rest.
  const auto id_end = text.find('_');
  const auto version_end = id_end == std::string_view::npos ? id_end : text.find('_', id_end + 1);
  if (version_end == std::string_view::npos) {
    return refuse(error, "missing parts (" + std::string(format_hint) + ")");
  }
  const std::string_view id = text.substr(0, id_end);
  const std::string_view version_text = text.substr(id_end + 1, version_end - id_end - 1);
  const std::string_view secret_text = text.substr(version_end + 1);
  if (!valid_tunnel_id(id)) {
    return refuse(error, "the tunnel id part is not 1 to 63 lower-case letters and digits");
  }
  std::uint32_t version = 0;
  const auto [end, ec] = std::from_chars(version_text.data(), version_text.data() + version_text.size(), version);
  if (ec != std::errc() || end != version_text.data() + version_text.size() || version == 0 ||
      version_text.front() == '0') {
    return refuse(error, "the version part is not a number from 1 to 4294967295 (no leading zeros)");
  }
  auto secret = core::base64url_decode(secret_text);
  if (!secret || secret->size() != token_secret{}.size()) {
    if (secret) OPENSSL_cleanse(secret->data(), secret->size());
    return refuse(error, "the secret part is not 32 bytes of unpadded base64url (43 characters)");
  }
  tunnel_token token;
  token.tunnel_id = std::string(id);
  token.version = version;
  std::copy(secret->begin(), secret->end(), token.secret.begin());
  OPENSSL_cleanse(secret->data(), secret->size());
  return token;
}

token_public_key public_key_of(const token_secret& secret) {
  const auto key = private_key(secret);
  token_public_key out;
  std::size_t size = out.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), out.data(), &size) != 1 || size != out.size()) {
    throw std::runtime_error("Ed25519: cannot derive the public key");
  }
  return out;
}

token_signature sign_proof(const tunnel_token& token, std::span<const std::uint8_t> exporter) {
  const auto key = private_key(token.secret);
  const std::string message = proof_message(token.tunnel_id, token.version, exporter);
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  token_signature out;
  std::size_t size = out.size();
  // Ed25519 hashes internally (one-shot only): no digest is named.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), out.data(), &size, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      size != out.size()) {
    throw std::runtime_error("Ed25519: signing the tunnel proof failed");
  }
  return out;
}

bool verify_proof(const token_public_key& key, std::string_view tunnel_id, std::uint32_t version,
                  std::span<const std::uint8_t> exporter, const token_signature& signature) {
  // Everything here comes from the network: any failure, allocation included, is a refusal.
  try {
    if (tunnel_id.size() > std::numeric_limits<std::uint32_t>::max() ||
        exporter.size() > std::numeric_limits<std::uint32_t>::max()) {
      return false;
    }
    pkey_ptr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    if (!pkey || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
      ERR_clear_error();
      return false;
    }
    const std::string message = proof_message(tunnel_id, version, exporter);
    const bool ok = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    // A refused signature queues an OpenSSL error; the edge's next TLS call must not see it.
    if (!ok) ERR_clear_error();
    return ok;
  } catch (...) {
    return false;
  }
}

}  // namespace mcpgate::tunnel
