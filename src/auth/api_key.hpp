// API keys for machine clients and simple setups: `mgk_` + 43 base64url characters (256
// random bits), sent as `Authorization: Bearer <key>`. The config holds only each key's
// SHA-256: a key has full entropy, so a plain hash is as good as a slow one and a leaked
// config reveals no key.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace mcpgate::auth {

constexpr std::string_view api_key_prefix = "mgk_";

// Key names appear in logs, audit lines and rate-limit keys: 1-64 of [A-Za-z0-9._@-].
bool valid_api_key_name(std::string_view name);

// A fresh key (RAND_bytes); throws std::runtime_error if the CSPRNG fails.
std::string make_api_key();

std::array<std::uint8_t, 32> sha256_of(std::string_view key);
std::string to_hex(std::span<const std::uint8_t> bytes);

// The configured key whose hash is the presented key's, or null. Compares against every
// key in constant time per key, so the time taken says nothing about which key (or how
// much of a hash) matched.
const config::api_key* find_api_key(const std::vector<config::api_key>& keys, std::string_view presented);

// Whether `key` may be used on `route` (its `routes` list names it, or is empty).
bool api_key_allows_route(const config::api_key& key, const config::route& route);

}  // namespace mcpgate::auth
