#include "http/wire.hpp"

#include <charconv>

namespace mcpgate::http {

namespace {

void append_fields(std::string& out, const boost::beast::http::fields& fields) {
  for (const auto& f : fields) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  out += "\r\n";
}

void append_version(std::string& out, unsigned version) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
}

}  // namespace

std::string request_head(const boost::beast::http::request_header<>& head) {
  std::string out;
  out.reserve(512);
  out += head.method_string();
  out += ' ';
  out += head.target();
  out += ' ';
  append_version(out, head.version());
  out += "\r\n";
  append_fields(out, head);
  return out;
}

std::string response_head(const boost::beast::http::response_header<>& head) {
  std::string out;
  out.reserve(512);
  append_version(out, head.version());
  out += ' ';
  out += std::to_string(head.result_int());
  out += ' ';
  out += head.reason();
  out += "\r\n";
  append_fields(out, head);
  return out;
}

std::string_view chunk_size_line(std::size_t size, std::array<char, 20>& storage) {
  auto [end, ec] = std::to_chars(storage.data(), storage.data() + storage.size() - 2, size, 16);
  *end++ = '\r';
  *end++ = '\n';
  return {storage.data(), static_cast<std::size_t>(end - storage.data())};
}

}  // namespace mcpgate::http
