// HTTP/1.1 message heads and chunk framing as bytes on the wire.
//
// The relay writes each head as ONE contiguous buffer and a body piece with its chunk
// framing in the same gathered write: Beast's serializer hands the kernel one iovec per
// header field and costs a template-heavy buffer walk per write, which on small MCP
// exchanges was a large share of the gateway's CPU.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>

namespace mcpgate::http {

// "METHOD target HTTP/1.x\r\n" + every field as "Name: value\r\n" + "\r\n".
std::string request_head(const boost::beast::http::request_header<>& head);
// "HTTP/1.x CODE REASON\r\n" + fields + "\r\n".
std::string response_head(const boost::beast::http::response_header<>& head);

// The size line of a chunk of `size` bytes ("1a\r\n"), written into `storage`.
std::string_view chunk_size_line(std::size_t size, std::array<char, 20>& storage);

}  // namespace mcpgate::http
