// Base64 (RFC 4648 section 4, with '=' padding) through OpenSSL's EVP_EncodeBlock /
// EVP_DecodeBlock, which leave padding and length to the caller: that part is done once here.
// Also its URL-safe form without padding (section 5), for values that travel in headers,
// file names and tokens.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::core {

std::string base64_encode(std::string_view bytes);

// nullopt: not padded base64 (length not a multiple of 4, a byte outside the alphabet).
std::optional<std::string> base64_decode(std::string_view text);

// '-' and '_' for '+' and '/', no '=' padding.
std::string base64url_encode(std::string_view bytes);

// nullopt: not unpadded base64url, or not the spelling base64url_encode gives for the
// bytes (non-zero unused bits in the last character): one spelling per value, so a value
// can be compared or used as a key in its encoded form.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace mcpgate::core
