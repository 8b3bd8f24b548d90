#include "pki/key.hpp"

#include <array>
#include <climits>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "pki/error.hpp"

namespace mcpgate::pki {
namespace {

constexpr std::array<std::pair<key_type, const char*>, 4> names{{
    {key_type::ecdsa_p256, "ecdsa-p256"},
    {key_type::rsa_2048, "rsa-2048"},
    {key_type::rsa_3072, "rsa-3072"},
    {key_type::rsa_4096, "rsa-4096"},
}};

// OpenSSL's default callback would prompt on the terminal for a passphrase; a tool that
// may run unattended must fail instead.
int no_passphrase(char*, int, int, void*) { return -1; }

std::string curve_name(const EVP_PKEY* key) {
  char name[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1) return {};
  return std::string(name, len < sizeof name ? len : sizeof name - 1);
}

}  // namespace

std::optional<key_type> parse_key_type(std::string_view text) {
  for (const auto& [type, name] : names) {
    if (text == name) return type;
  }
  return std::nullopt;
}

const char* to_string(key_type type) {
  for (const auto& [t, name] : names) {
    if (t == type) return name;
  }
  return "?";
}

std::string key_type_names() {
  std::string out;
  for (const auto& [type, name] : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

pkey_ptr generate_key(key_type type) {
  pkey_ptr key;
  switch (type) {
    case key_type::ecdsa_p256: key.reset(EVP_EC_gen("P-256")); break;
    case key_type::rsa_2048: key.reset(EVP_RSA_gen(2048)); break;
    case key_type::rsa_3072: key.reset(EVP_RSA_gen(3072)); break;
    case key_type::rsa_4096: key.reset(EVP_RSA_gen(4096)); break;
  }
  if (!key) throw_openssl("", std::string("generating a ") + to_string(type) + " key");
  return key;
}

std::string private_key_pem(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw_openssl("", "encoding a private key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

pkey_ptr load_private_key(std::string_view pem, const std::string& file) {
  if (pem.size() > INT_MAX) throw error(file, "too large for a private key");
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw_openssl(file, "reading a private key");
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    const std::string reason = openssl_reason();
    if (pem.find("ENCRYPTED") != std::string_view::npos) {
      throw error(file, "the private key is encrypted; the gateway needs it unencrypted (" + reason + ")");
    }
    throw error(file, "no PEM private key (expected -----BEGIN PRIVATE KEY-----): " + reason);
  }
  return key;
}

std::optional<key_type> key_type_of(const EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
      if (curve_name(key) == "prime256v1" || curve_name(key) == "P-256") return key_type::ecdsa_p256;
      return std::nullopt;
    case EVP_PKEY_RSA:
      switch (EVP_PKEY_get_bits(key)) {
        case 2048: return key_type::rsa_2048;
        case 3072: return key_type::rsa_3072;
        case 4096: return key_type::rsa_4096;
        default: return std::nullopt;
      }
    default: return std::nullopt;
  }
}

std::string describe_key(const EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      const std::string curve = curve_name(key);
      if (curve == "prime256v1") return "EC P-256";
      if (curve == "secp384r1") return "EC P-384";
      if (curve == "secp521r1") return "EC P-521";
      return "EC " + (curve.empty() ? std::string("(unknown curve)") : curve);
    }
    case EVP_PKEY_RSA: return "RSA " + std::to_string(EVP_PKEY_get_bits(key)) + " bits";
    case EVP_PKEY_RSA_PSS: return "RSA-PSS " + std::to_string(EVP_PKEY_get_bits(key)) + " bits";
    default: {
      const char* name = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
      return name ? name : "unknown key type";
    }
  }
}

}  // namespace mcpgate::pki
