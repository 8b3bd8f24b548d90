#include "net/proxy_protocol.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

namespace mcpgate::net {

namespace {

using result = proxy_header_result;
using status = proxy_header_result::status;

constexpr std::array<std::uint8_t, 12> v2_signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t v1_max = 107;

result invalid(std::string why) {
  result r;
  r.state = status::invalid;
  r.error = std::move(why);
  return r;
}

// Whether `data` could still become `prefix` (or starts with all of it).
bool may_start_with(std::span<const std::uint8_t> data, std::span<const std::uint8_t> prefix) {
  const std::size_t n = std::min(data.size(), prefix.size());
  return std::equal(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n), prefix.begin());
}

result parse_v1(std::string_view text) {
  const auto end = text.find("\r\n");
  if (end == std::string_view::npos) {
    if (text.size() >= v1_max) return invalid("PROXY v1 line longer than 107 bytes");
    return {};
  }
  if (end + 2 > v1_max) return invalid("PROXY v1 line longer than 107 bytes");
  std::string_view line = text.substr(6, end - 6);  // after "PROXY "
  result r;
  r.state = status::complete;
  r.length = end + 2;
  if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) return r;
  // TCP4|TCP6 SRC DST SPORT DPORT
  std::array<std::string_view, 5> fields;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto space = line.find(' ');
    if ((space == std::string_view::npos) != (i == fields.size() - 1)) return invalid("PROXY v1: expected 5 fields");
    fields[i] = line.substr(0, space);
    line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
  }
  if (fields[0] != "TCP4" && fields[0] != "TCP6") return invalid("PROXY v1: unknown protocol");
  boost::system::error_code ec;
  const auto source = boost::asio::ip::make_address(std::string(fields[1]), ec);
  if (ec || source.is_v4() != (fields[0] == "TCP4")) return invalid("PROXY v1: bad source address");
  for (const auto port : {fields[3], fields[4]}) {
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoul(std::string(port)) > 65535) {
      return invalid("PROXY v1: bad port");
    }
  }
  r.source = source;
  return r;
}

result parse_v2(std::span<const std::uint8_t> data) {
  if (data.size() < 16) return {};
  const std::uint8_t version_command = data[12];
  const std::uint8_t family = data[13];
  const std::size_t payload = static_cast<std::size_t>(data[14]) << 8 | data[15];
  if ((version_command >> 4) != 2) return invalid("PROXY v2: unknown version");
  const unsigned command = version_command & 0x0f;
  if (command > 1) return invalid("PROXY v2: unknown command");
  if (payload > max_proxy_v2_payload) return invalid("PROXY v2: header larger than 4096 bytes");
  if (data.size() < 16 + payload) return {};
  result r;
  r.state = status::complete;
  r.length = 16 + payload;
  if (command == 0) return r;  // LOCAL: the proxy's own connection (health checks)
  const unsigned address_family = family >> 4;
  const unsigned transport = family & 0x0f;
  if (transport != 1 && transport != 2) return r;  // UNSPEC: no address we can use
  const auto* p = data.data() + 16;
  if (address_family == 1) {
    if (payload < 12) return invalid("PROXY v2: IPv4 addresses truncated");
    boost::asio::ip::address_v4::bytes_type bytes;
    std::memcpy(bytes.data(), p, 4);
    r.source = boost::asio::ip::address_v4(bytes);
  } else if (address_family == 2) {
    if (payload < 36) return invalid("PROXY v2: IPv6 addresses truncated");
    boost::asio::ip::address_v6::bytes_type bytes;
    std::memcpy(bytes.data(), p, 16);
    r.source = boost::asio::ip::address_v6(bytes);
  }
  return r;  // AF_UNIX and others: no IP address
}

}  // namespace

proxy_header_result parse_proxy_header(std::span<const std::uint8_t> data) {
  static constexpr std::array<std::uint8_t, 6> v1_prefix{'P', 'R', 'O', 'X', 'Y', ' '};
  if (data.empty()) return {};
  if (may_start_with(data, v2_signature)) {
    if (data.size() < v2_signature.size()) return {};
    return parse_v2(data);
  }
  if (may_start_with(data, v1_prefix)) {
    if (data.size() < v1_prefix.size()) return {};
    const std::string_view text(reinterpret_cast<const char*>(data.data()), std::min(data.size(), v1_max));
    return parse_v1(text);
  }
  return invalid("no PROXY protocol header (the listener expects one from its load balancer)");
}

std::string make_proxy_v2_header(const boost::asio::ip::tcp::endpoint& source,
                                 const boost::asio::ip::tcp::endpoint& destination) {
  std::string header(v2_signature.begin(), v2_signature.end());
  const auto put_port = [&](unsigned short port) {
    header += static_cast<char>(port >> 8);
    header += static_cast<char>(port & 0xff);
  };
  const auto src = source.address();
  const auto dst = destination.address();
  header += static_cast<char>(0x21);  // version 2, PROXY
  if (src.is_v4() && dst.is_v4()) {
    header += static_cast<char>(0x11);  // AF_INET, STREAM
    header += '\0';
    header += static_cast<char>(12);
    for (auto b : src.to_v4().to_bytes()) header += static_cast<char>(b);
    for (auto b : dst.to_v4().to_bytes()) header += static_cast<char>(b);
  } else {
    const auto v6 = [](const boost::asio::ip::address& a) {
      return a.is_v6() ? a.to_v6() : boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4());
    };
    header += static_cast<char>(0x21);  // AF_INET6, STREAM
    header += '\0';
    header += static_cast<char>(36);
    for (auto b : v6(src).to_bytes()) header += static_cast<char>(b);
    for (auto b : v6(dst).to_bytes()) header += static_cast<char>(b);
  }
  put_port(source.port());
  put_port(destination.port());
  return header;
}

}  // namespace mcpgate::net
