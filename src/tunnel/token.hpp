// Tunnel tokens: what a connector holds to prove it may carry a tunnel's traffic.
//
//   mgt1_<tunnel id>_<version>_<base64url(32-byte secret)>
//
// The secret is an Ed25519 private key seed. The edge stores only the public key derived
// from it (a one-way function of the secret, like a hash, which also verifies a signature),
// so a copy of the edge's registry cannot be used to connect. The connector proves
// possession by signing a value exported from the TLS session it is authenticating
// (RFC 5705 / RFC 8446 exporter): the signature is bound to that one TLS session, so a
// captured handshake is worthless on any other connection.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mcpgate::tunnel {

using token_secret = std::array<std::uint8_t, 32>;
using token_public_key = std::array<std::uint8_t, 32>;
using token_signature = std::array<std::uint8_t, 64>;

struct tunnel_token {
  std::string tunnel_id;       // lower-case DNS label: [a-z0-9]{1,63}
  std::uint32_t version = 0;   // 1 at creation, +1 per rotation
  token_secret secret{};
};

// A fresh random secret (RAND_bytes); throws std::runtime_error if the CSPRNG fails.
token_secret random_token_secret();

std::string format_token(const tunnel_token& token);

// Parses a token as `format_token` writes it; surrounding whitespace (a token file's
// trailing newline) is ignored. nullopt with `error` saying what is wrong (never echoing the
// secret part).
std::optional<tunnel_token> parse_token(std::string_view text, std::string* error = nullptr);

// The Ed25519 public key of the secret (what the registry stores).
token_public_key public_key_of(const token_secret& secret);

// The context every proof is made in; part of the signed message so a signature made for
// something else can never pass as a proof.
constexpr std::string_view proof_label = "EXPORTER-mcpgate-tunnel-auth-v1";

// Ed25519 signature over
//   proof_label || u32(len tunnel_id) || tunnel_id || u32(version) || u32(len exporter) || exporter
// (u32 big-endian): the lengths make the encoding unambiguous, so no two different inputs
// are ever the same signed message. verify_proof never throws: any bad input is `false`.
token_signature sign_proof(const tunnel_token& token, std::span<const std::uint8_t> exporter);
bool verify_proof(const token_public_key& key, std::string_view tunnel_id, std::uint32_t version,
                  std::span<const std::uint8_t> exporter, const token_signature& signature);

}  // namespace mcpgate::tunnel
