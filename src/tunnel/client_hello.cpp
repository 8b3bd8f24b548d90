#include "tunnel/client_hello.hpp"

#include <optional>

namespace mcpgate::tunnel {

namespace {

constexpr std::uint8_t record_handshake = 22;
constexpr std::uint8_t handshake_client_hello = 1;
constexpr std::uint16_t ext_server_name = 0;
constexpr std::uint16_t ext_alpn = 16;
constexpr std::size_t record_header = 5;
constexpr std::size_t max_record_payload = 16384 + 2048;  // TLSPlaintext limit, with slack for TLS 1.2 padding

// A cursor over bytes that fails (once, sticky) instead of reading past the end.
class reader {
 public:
  explicit reader(std::span<const std::uint8_t> data) : data_(data) {}
  bool ok() const { return ok_; }
  std::size_t left() const { return ok_ ? data_.size() - at_ : 0; }
  std::uint32_t u8() { return take(1); }
  std::uint32_t u16() { return take(2); }
  std::uint32_t u24() { return take(3); }
  std::span<const std::uint8_t> bytes(std::size_t n) {
    if (!ok_ || data_.size() - at_ < n) {
      ok_ = false;
      return {};
    }
    auto out = data_.subspan(at_, n);
    at_ += n;
    return out;
  }
  // A length-prefixed sub-range (prefix of `width` bytes).
  std::optional<reader> vector(std::size_t width) {
    const auto n = take(width);
    auto b = bytes(n);
    if (!ok_) return std::nullopt;
    return reader(b);
  }

 private:
  std::uint32_t take(std::size_t n) {
    if (!ok_ || data_.size() - at_ < n) {
      ok_ = false;
      return 0;
    }
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | data_[at_ + i];
    at_ += n;
    return v;
  }
  std::span<const std::uint8_t> data_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

// A DNS host name as SNI carries it (RFC 6066: no IP literals, no trailing dot on the wire,
// but clients send one sometimes): lower-cased, labels of letters, digits, '-', '_'.
std::optional<std::string> host_name(std::span<const std::uint8_t> raw) {
  std::string name(raw.begin(), raw.end());
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::size_t label = 0;
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
      continue;
    }
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!allowed || ++label > 63) return std::nullopt;
  }
  if (label == 0) return std::nullopt;
  return name;
}

client_hello_result fail(hello_status status, std::string why) {
  client_hello_result r;
  r.status = status;
  r.error = std::move(why);
  return r;
}

// The ClientHello body (after the 4-byte handshake header).
client_hello_result parse_body(std::span<const std::uint8_t> body) {
  reader in(body);
  client_hello_result out;
  out.info.client_version = static_cast<std::uint16_t>(in.u16());
  in.bytes(32);  // random
  const auto session_id = in.vector(1);
  if (!session_id || session_id->left() > 32) return fail(hello_status::malformed, "bad session id");
  const auto suites = in.vector(2);
  if (!suites || suites->left() == 0 || suites->left() % 2 != 0) return fail(hello_status::malformed, "bad cipher suites");
  const auto compression = in.vector(1);
  if (!compression || compression->left() == 0) return fail(hello_status::malformed, "bad compression methods");
  if (!in.ok()) return fail(hello_status::malformed, "truncated ClientHello");
  if (in.left() == 0) {  // no extensions at all (very old clients): no SNI
    out.status = hello_status::ok;
    return out;
  }
  auto extensions = in.vector(2);
  if (!extensions || in.left() != 0) return fail(hello_status::malformed, "bad extensions block");
  bool seen_sni = false, seen_alpn = false;
  while (extensions->left() > 0) {
    const auto type = extensions->u16();
    auto data = extensions->vector(2);
    if (!data) return fail(hello_status::malformed, "truncated extension");
    if (type == ext_server_name) {
      if (seen_sni) return fail(hello_status::malformed, "two server_name extensions");
      seen_sni = true;
      auto list = data->vector(2);
      if (!list || data->left() != 0 || list->left() == 0) return fail(hello_status::malformed, "bad server_name list");
      while (list->left() > 0) {
        const auto name_type = list->u8();
        auto name = list->vector(2);
        if (!name) return fail(hello_status::malformed, "bad server_name entry");
        if (name_type != 0) continue;  // only host_name is defined
        if (!out.info.server_name.empty()) return fail(hello_status::malformed, "two host names in server_name");
        auto raw = name->bytes(name->left());
        auto host = host_name(raw);
        if (!host) return fail(hello_status::malformed, "server_name is not a DNS host name");
        out.info.server_name = std::move(*host);
      }
    } else if (type == ext_alpn) {
      if (seen_alpn) return fail(hello_status::malformed, "two ALPN extensions");
      seen_alpn = true;
      auto list = data->vector(2);
      if (!list || data->left() != 0 || list->left() == 0) return fail(hello_status::malformed, "bad ALPN list");
      while (list->left() > 0) {
        auto proto = list->vector(1);
        if (!proto || proto->left() == 0) return fail(hello_status::malformed, "bad ALPN protocol");
        auto raw = proto->bytes(proto->left());
        out.info.alpn.emplace_back(raw.begin(), raw.end());
      }
    }
  }
  if (!extensions->ok()) return fail(hello_status::malformed, "truncated extensions");
  out.status = hello_status::ok;
  return out;
}

}  // namespace

client_hello_result parse_client_hello(std::span<const std::uint8_t> bytes, std::size_t max_bytes) {
  // The handshake message may be split over several records: collect their payloads.
  std::vector<std::uint8_t> handshake;
  std::size_t at = 0;
  std::size_t need = 0;  // handshake bytes of the whole ClientHello, once its header is known
  for (;;) {
    if (at >= max_bytes) return fail(hello_status::too_large, "no complete ClientHello in the first bytes");
    if (bytes.size() - at < record_header) {
      if (at == 0 && !bytes.empty() && bytes[0] != record_handshake) {
        return fail(hello_status::not_tls, "not a TLS handshake record");
      }
      return {};
    }
    const auto type = bytes[at];
    const auto major = bytes[at + 1];
    const std::size_t length = (std::size_t{bytes[at + 3]} << 8) | bytes[at + 4];
    if (type != record_handshake || major != 3) {
      return fail(at == 0 ? hello_status::not_tls : hello_status::malformed,
                  at == 0 ? "not a TLS handshake record" : "a record that is not a handshake inside the ClientHello");
    }
    if (length == 0 || length > max_record_payload) return fail(hello_status::malformed, "bad record length");
    if (at + record_header + length > max_bytes) {
      return fail(hello_status::too_large, "ClientHello larger than " + std::to_string(max_bytes) + " bytes");
    }
    if (bytes.size() - at - record_header < length) return {};  // the record is still arriving
    const auto payload = bytes.subspan(at + record_header, length);
    handshake.insert(handshake.end(), payload.begin(), payload.end());
    at += record_header + length;
    if (need == 0 && handshake.size() >= 4) {
      if (handshake[0] != handshake_client_hello) return fail(hello_status::malformed, "first handshake message is not a ClientHello");
      need = 4 + ((std::size_t{handshake[1]} << 16) | (std::size_t{handshake[2]} << 8) | handshake[3]);
      if (need > max_bytes) return fail(hello_status::too_large, "ClientHello larger than " + std::to_string(max_bytes) + " bytes");
    }
    if (need != 0 && handshake.size() >= need) {
      if (handshake.size() != need) return fail(hello_status::malformed, "bytes after the ClientHello in its record");
      auto result = parse_body(std::span<const std::uint8_t>(handshake).subspan(4));
      if (result.status == hello_status::ok) result.consumed = at;
      return result;
    }
  }
}

bool name_is_under(std::string_view name, std::string_view domain) {
  if (domain.empty() || name.size() < domain.size()) return false;
  if (name.substr(name.size() - domain.size()) != domain) return false;
  return name.size() == domain.size() || name[name.size() - domain.size() - 1] == '.';
}

}  // namespace mcpgate::tunnel
