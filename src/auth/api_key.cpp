#include "auth/api_key.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "core/base64.hpp"
#include "pki/text.hpp"

namespace mcpgate::auth {

bool valid_api_key_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '@' || c == '-';
  });
}

std::string make_api_key() {
  std::array<std::uint8_t, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  return std::string(api_key_prefix) +
         core::base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::array<std::uint8_t, 32> sha256_of(std::string_view key) {
  std::array<std::uint8_t, 32> out{};
  unsigned int size = 0;
  EVP_Digest(key.data(), key.size(), out.data(), &size, EVP_sha256(), nullptr);
  return out;
}

std::string to_hex(std::span<const std::uint8_t> bytes) { return pki::hex(bytes.data(), bytes.size(), '\0'); }

const config::api_key* find_api_key(const std::vector<config::api_key>& keys, std::string_view presented) {
  const auto digest = sha256_of(presented);
  const config::api_key* found = nullptr;
  for (const auto& key : keys) {
    // No early exit: every key is compared whatever matched before.
    if (CRYPTO_memcmp(key.sha256.data(), digest.data(), digest.size()) == 0) found = &key;
  }
  return found;
}

bool api_key_allows_route(const config::api_key& key, const config::route& route) {
  return key.routes.empty() || std::find(key.routes.begin(), key.routes.end(), route.name) != key.routes.end();
}

}  // namespace mcpgate::auth
