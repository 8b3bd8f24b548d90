#include "pki/pem.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>

#include <openssl/pem.h>

#include "pki/error.hpp"
#include "pki/text.hpp"

namespace mcpgate::pki {
namespace {

constexpr std::string_view begin_marker = "-----BEGIN ";
constexpr std::string_view end_marker = "-----END ";
constexpr std::string_view dashes = "-----";

// A line without its line break and trailing '\r' / blanks.
std::string_view trimmed_line(std::string_view text, std::size_t start, std::size_t end) {
  std::string_view line = text.substr(start, end - start);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  return line;
}

bool blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

// "-----BEGIN LABEL-----" -> "LABEL"; "" when `line` is not such a line.
std::string_view marker_label(std::string_view line, std::string_view marker) {
  if (line.size() <= marker.size() + dashes.size()) return {};
  if (line.substr(0, marker.size()) != marker) return {};
  if (line.substr(line.size() - dashes.size()) != dashes) return {};
  return line.substr(marker.size(), line.size() - marker.size() - dashes.size());
}

int no_passphrase(char*, int, int, void*) { return -1; }

}  // namespace

std::size_t pem_scan::count(std::string_view label) const {
  return static_cast<std::size_t>(
      std::count_if(blocks.begin(), blocks.end(), [&](const pem_block& b) { return b.label == label; }));
}

bool pem_scan::has_private_key() const {
  return std::any_of(blocks.begin(), blocks.end(),
                     [](const pem_block& b) { return b.label.find("PRIVATE KEY") != std::string::npos; });
}

pem_scan scan_pem(std::string_view text) {
  pem_scan out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t eol = std::min(text.find('\n', pos), text.size());
    const std::string_view line = trimmed_line(text, pos, eol);
    const std::string_view label = marker_label(line, begin_marker);
    if (label.empty()) {
      if (!blank(line)) out.text_outside = true;
      pos = eol + 1;
      continue;
    }
    // Find the matching END line; lines in between are the base64 body.
    std::size_t body = eol + 1;
    std::size_t block_end = std::string_view::npos;
    while (body < text.size()) {
      const std::size_t next = std::min(text.find('\n', body), text.size());
      const std::string_view body_line = trimmed_line(text, body, next);
      if (!marker_label(body_line, end_marker).empty() || !marker_label(body_line, begin_marker).empty()) {
        if (marker_label(body_line, end_marker) == label) block_end = std::min(next + 1, text.size());
        break;
      }
      body = next + 1;
    }
    if (block_end == std::string_view::npos) {
      out.unterminated = true;
      if (body >= text.size()) break;
      pos = body;  // resume at the marker that interrupted this block
      continue;
    }
    ++out.block_count;
    if (out.blocks.size() < pem_scan::max_blocks) {
      out.blocks.push_back({std::string(label.substr(0, 80)), text.substr(pos, block_end - pos)});
    }
    pos = block_end;
  }
  return out;
}

bool looks_like_der(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x30 &&
         (static_cast<unsigned char>(data[1]) & 0x80) != 0;
}

x509_ptr parse_certificate(std::string_view pem, const std::string& file) {
  if (pem.size() > max_pem_file_bytes) throw error(file, "larger than " + std::to_string(max_pem_file_bytes) + " bytes");
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw_openssl(file, "reading a certificate");
  x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
  if (!cert) {
    const std::string reason = openssl_reason();
    if (looks_like_der(pem)) {
      throw error(file, "DER, not PEM (convert it: openssl x509 -inform der -in FILE -out FILE.pem)");
    }
    throw error(file, "no PEM certificate (expected -----BEGIN CERTIFICATE-----): " + reason);
  }
  return cert;
}

std::string certificate_pem(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) throw_openssl("", "encoding a certificate");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

long long seconds_until(const ASN1_TIME* when, std::time_t now) {
  asn1_time_ptr from(ASN1_TIME_set(nullptr, now));
  int days = 0;
  int seconds = 0;
  if (!from || ASN1_TIME_diff(&days, &seconds, from.get(), when) != 1) {
    throw error("", "unreadable certificate time: " + openssl_reason());
  }
  return static_cast<long long>(days) * 86400 + seconds;
}

long long seconds_left(std::string_view pem, std::time_t now) {
  const x509_ptr cert = parse_certificate(pem, "");
  return seconds_until(X509_get0_notAfter(cert.get()), now);
}

std::string format_time(const ASN1_TIME* when) {
  std::tm tm{};
  if (when == nullptr || ASN1_TIME_to_tm(when, &tm) != 1) return "(unreadable time)";
  char buf[64];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) return "(unreadable time)";
  return buf;
}

std::string format_remaining(long long seconds) {
  const bool past = seconds < 0;
  unsigned long long s = past ? 0ULL - static_cast<unsigned long long>(seconds) : static_cast<unsigned long long>(seconds);
  const unsigned long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
  char buf[64];
  if (d > 0) std::snprintf(buf, sizeof buf, "%llud %lluh", d, h);
  else if (h > 0) std::snprintf(buf, sizeof buf, "%lluh %llum", h, m);
  else if (m > 0) std::snprintf(buf, sizeof buf, "%llum %llus", m, s % 60);
  else std::snprintf(buf, sizeof buf, "%llus", s);
  return past ? "expired " + std::string(buf) + " ago" : std::string(buf);
}

std::string name_of(const X509_NAME* name) {
  if (name == nullptr) return "(no name)";
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "(unprintable name)";
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  const std::string_view text(data, static_cast<std::size_t>(len));
  return text.empty() ? "(empty name)" : printable(text);
}

std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> out;
  const general_names_ptr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  const int n = sk_GENERAL_NAME_num(names.get());
  for (int i = 0; i < n && out.size() < 256; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_DNS) continue;
    const ASN1_STRING* s = gn->d.dNSName;
    out.push_back(printable(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                             static_cast<std::size_t>(ASN1_STRING_length(s)))));
  }
  return out;
}

std::string common_name(X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  return printable(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<std::size_t>(ASN1_STRING_length(s))));
}

std::string sha256_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) throw_openssl("", "hashing a certificate");
  return hex(md, len, '\0');
}

}  // namespace mcpgate::pki
