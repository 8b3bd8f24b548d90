#include "tunnel/handshake.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include "core/base64.hpp"

namespace mcpgate::tunnel {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::system::error_code;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

std::optional<json::object> parse_object(std::string_view text, std::string& error) {
  if (text.size() > max_handshake_bytes) {
    error = "message larger than " + std::to_string(max_handshake_bytes) + " bytes";
    return std::nullopt;
  }
  error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    error = "not JSON: " + ec.message();
    return std::nullopt;
  }
  if (!v.is_object()) {
    error = "expected a JSON object";
    return std::nullopt;
  }
  return std::move(v.as_object());
}

std::optional<std::string> string_field(const json::object& o, std::string_view key, std::size_t max,
                                        std::string& error) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) {
    error = "\"" + std::string(key) + "\" missing or not a string";
    return std::nullopt;
  }
  const auto& s = v->as_string();
  if (s.size() > max) {
    error = "\"" + std::string(key) + "\" longer than " + std::to_string(max) + " characters";
    return std::nullopt;
  }
  return std::string(s);
}

std::optional<std::uint64_t> number_field(const json::object& o, std::string_view key, std::uint64_t max,
                                          std::string& error) {
  const auto* v = o.if_contains(key);
  std::uint64_t n = 0;
  if (v && v->is_uint64()) n = v->as_uint64();
  else if (v && v->is_int64() && v->as_int64() >= 0) n = static_cast<std::uint64_t>(v->as_int64());
  else {
    error = "\"" + std::string(key) + "\" missing or not a non-negative integer";
    return std::nullopt;
  }
  if (n > max) {
    error = "\"" + std::string(key) + "\" out of range";
    return std::nullopt;
  }
  return n;
}

}  // namespace

std::string encode_hello(const connector_hello& hello) {
  const std::string proof(reinterpret_cast<const char*>(hello.proof.data()), hello.proof.size());
  json::object o;
  o["tunnel"] = hello.tunnel_id;
  o["version"] = hello.version;
  o["proof"] = core::base64url_encode(proof);
  o["connector"] = hello.connector.substr(0, 64);
  o["connection"] = hello.connection;
  return json::serialize(o);
}

std::optional<connector_hello> decode_hello(std::string_view text, std::string& error) {
  auto o = parse_object(text, error);
  if (!o) return std::nullopt;
  connector_hello hello;
  auto tunnel = string_field(*o, "tunnel", 63, error);
  if (!tunnel) return std::nullopt;
  auto version = number_field(*o, "version", 0xffffffffu, error);
  if (!version) return std::nullopt;
  auto proof = string_field(*o, "proof", 128, error);
  if (!proof) return std::nullopt;
  auto connector = string_field(*o, "connector", 64, error);
  if (!connector) return std::nullopt;
  auto connection = number_field(*o, "connection", 1024, error);
  if (!connection) return std::nullopt;
  const auto raw = core::base64url_decode(*proof);
  if (!raw || raw->size() != hello.proof.size()) {
    error = "\"proof\" is not a base64url Ed25519 signature";
    return std::nullopt;
  }
  std::copy(raw->begin(), raw->end(), reinterpret_cast<char*>(hello.proof.data()));
  // Names go into logs: printable ASCII only.
  for (char c : *connector) {
    if (c < 0x20 || c > 0x7e) {
      error = "\"connector\" has a control or non-ASCII character";
      return std::nullopt;
    }
  }
  hello.tunnel_id = std::move(*tunnel);
  hello.version = static_cast<std::uint32_t>(*version);
  hello.connector = std::move(*connector);
  hello.connection = static_cast<unsigned>(*connection);
  return hello;
}

std::string encode_verdict(const edge_verdict& verdict) {
  json::object o;
  o["result"] = verdict.result;
  o["message"] = verdict.message;
  if (!verdict.domain.empty()) o["domain"] = verdict.domain;
  return json::serialize(o);
}

std::optional<edge_verdict> decode_verdict(std::string_view text, std::string& error) {
  auto o = parse_object(text, error);
  if (!o) return std::nullopt;
  edge_verdict verdict;
  auto result = string_field(*o, "result", 64, error);
  if (!result) return std::nullopt;
  auto message = string_field(*o, "message", 1024, error);
  if (!message) return std::nullopt;
  verdict.result = std::move(*result);
  verdict.message = std::move(*message);
  if (o->contains("domain")) {
    auto domain = string_field(*o, "domain", 253, error);
    if (!domain) return std::nullopt;
    verdict.domain = std::move(*domain);
  }
  return verdict;
}

std::optional<std::array<std::uint8_t, 32>> tls_exporter(tls_socket& tls) {
  SSL* ssl = tls.native_handle();
  if (SSL_version(ssl) != TLS1_3_VERSION) return std::nullopt;
  std::array<std::uint8_t, 32> out{};
  if (SSL_export_keying_material(ssl, out.data(), out.size(), proof_label.data(), proof_label.size(), nullptr, 0, 0) !=
      1) {
    return std::nullopt;
  }
  return out;
}

asio::awaitable<error_code> write_message(tls_socket& tls, std::string_view message) {
  if (message.size() > max_handshake_bytes) co_return asio::error::message_size;
  std::string frame;
  frame.reserve(4 + message.size());
  const auto n = static_cast<std::uint32_t>(message.size());
  for (int shift = 24; shift >= 0; shift -= 8) frame += static_cast<char>((n >> shift) & 0xff);
  frame += message;
  auto [ec, written] = co_await asio::async_write(tls, asio::buffer(frame), nothrow);
  co_return ec;
}

asio::awaitable<error_code> read_message(tls_socket& tls, std::string& message) {
  std::array<std::uint8_t, 4> length{};
  {
    auto [ec, n] = co_await asio::async_read(tls, asio::buffer(length), nothrow);
    if (ec) co_return ec;
  }
  const std::uint32_t size = static_cast<std::uint32_t>(length[0]) << 24 | static_cast<std::uint32_t>(length[1]) << 16 |
                             static_cast<std::uint32_t>(length[2]) << 8 | length[3];
  if (size > max_handshake_bytes) co_return asio::error::message_size;
  message.assign(size, '\0');
  auto [ec, n] = co_await asio::async_read(tls, asio::buffer(message), nothrow);
  co_return ec;
}

handshake_deadline::handshake_deadline(const std::shared_ptr<tls_socket>& tls, std::chrono::milliseconds timeout)
    : timer_(tls->get_executor(), timeout) {
  timer_.async_wait([weak = std::weak_ptr<tls_socket>(tls), expired = expired_](error_code ec) {
    if (ec) return;
    *expired = true;
    if (auto socket = weak.lock()) {
      error_code ignored;
      socket->lowest_layer().close(ignored);
    }
  });
}

handshake_deadline::~handshake_deadline() { timer_.cancel(); }

}  // namespace mcpgate::tunnel
