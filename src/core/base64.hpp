// Base64 (RFC 4648 section 4, with '=' padding) through OpenSSL's EVP_EncodeBlock /
// EVP_DecodeBlock, which leave padding and length to the caller: that part is done once here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::core {

std::string base64_encode(std::string_view bytes);

// nullopt: not padded base64 (length not a multiple of 4, a byte outside the alphabet).
std::optional<std::string> base64_decode(std::string_view text);

// Base64url (RFC 4648 section 5) without padding, as tokens and ids carry it.
std::string base64url_encode(std::string_view bytes);
// nullopt unless `text` is exactly what base64url_encode writes for some bytes (one spelling
// per value: no padding, no stray low bits).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace mcpgate::core
