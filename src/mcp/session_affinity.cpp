#include "mcp/session_affinity.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>  // EVP_sha256
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "core/base64.hpp"

namespace mcpgate::mcp {

namespace {

constexpr std::string_view prefix = "mg1.";
constexpr std::size_t mac_bytes = 16;
constexpr std::size_t max_token = 8192;  // far above real session ids; bounds the work per request

std::string mac(std::string_view key, std::string_view instance, std::string_view session) {
  // Length-prefixed fields: ("ab", "c") and ("a", "bc") give different MACs.
  std::string message(prefix);
  message += std::to_string(instance.size()) + ":";
  message += instance;
  message += std::to_string(session.size()) + ":";
  message += session;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
            message.size(), out, &len)) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(out), mac_bytes);
}

}  // namespace

std::string encode_affine_session(std::string_view key, std::string_view instance, std::string_view upstream_session) {
  std::string out(prefix);
  out += core::base64url_encode(instance);
  out += '.';
  out += core::base64url_encode(upstream_session);
  out += '.';
  out += core::base64url_encode(mac(key, instance, upstream_session));
  return out;
}

std::optional<affine_session> decode_affine_session(std::string_view key, std::string_view token) {
  if (token.size() > max_token || token.substr(0, prefix.size()) != prefix) return std::nullopt;
  token.remove_prefix(prefix.size());
  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return std::nullopt;
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) return std::nullopt;
  auto instance = core::base64url_decode(token.substr(0, dot1));
  auto session = core::base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto given = core::base64url_decode(token.substr(dot2 + 1));
  if (!instance || !session || !given || given->size() != mac_bytes) return std::nullopt;
  const std::string expected = mac(key, *instance, *session);
  if (CRYPTO_memcmp(expected.data(), given->data(), mac_bytes) != 0) return std::nullopt;
  return affine_session{std::move(*instance), std::move(*session)};
}

std::string random_affinity_key() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return key;
}

}  // namespace mcpgate::mcp
