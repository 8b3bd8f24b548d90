// Private keys: the types the tunnel accepts, generation, and PEM in and out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pki/ossl.hpp"

namespace mcpgate::pki {

enum class key_type { ecdsa_p256, rsa_2048, rsa_3072, rsa_4096 };

// "ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096".
std::optional<key_type> parse_key_type(std::string_view text);
const char* to_string(key_type type);
// The accepted spellings, for help texts and errors: "ecdsa-p256, rsa-2048, ...".
std::string key_type_names();

pkey_ptr generate_key(key_type type);

// PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), unencrypted: the gateway reads it unattended.
std::string private_key_pem(EVP_PKEY* key);

// Parses a PEM private key; never prompts for a passphrase (an encrypted key is an error
// that says so). `file` names the source in the error.
pkey_ptr load_private_key(std::string_view pem, const std::string& file);

// The key_type a generated key of this kind would have, or nullopt for anything else
// (RSA 8192, P-384, Ed25519): what `renew` keeps when no --key-type is given.
std::optional<key_type> key_type_of(const EVP_PKEY* key);

// "EC P-256", "RSA 4096 bits", "ED25519".
std::string describe_key(const EVP_PKEY* key);

}  // namespace mcpgate::pki
