#include "http/wire.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <gtest/gtest.h>

namespace mcpgate::http {
namespace {

namespace bhttp = boost::beast::http;

TEST(Wire, RequestHeadIsWhatBeastParsesBack) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::post);
  h.target("/mcp?x=1");
  h.version(11);
  h.set(bhttp::field::host, "10.0.0.1:8080");
  h.set("Mcp-Session-Id", "abc");
  h.set(bhttp::field::content_length, "2");
  const auto text = request_head(h) + "{}";
  EXPECT_EQ(request_head(h).substr(0, 24), "POST /mcp?x=1 HTTP/1.1\r\n");

  bhttp::request_parser<bhttp::string_body> parser;
  boost::system::error_code ec;
  std::size_t used = 0;
  while (!ec && !parser.is_done() && used < text.size()) {  // put() stops after the head
    used += parser.put(boost::asio::buffer(text.data() + used, text.size() - used), ec);
  }
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  auto& m = parser.get();
  EXPECT_EQ(m.target(), "/mcp?x=1");
  EXPECT_EQ(m["Mcp-Session-Id"], "abc");
  EXPECT_EQ(m.body(), "{}");
}

TEST(Wire, ResponseHeadKeepsStatusAndReason) {
  bhttp::response_header<> h;
  h.result(202);
  h.reason("Accepted");
  h.version(11);
  h.set(bhttp::field::content_length, "0");
  EXPECT_EQ(response_head(h), "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
  h.version(10);
  h.result(404);
  h.reason("");
  EXPECT_EQ(response_head(h).substr(0, 23), "HTTP/1.0 404 Not Found\r");
}

TEST(Wire, ChunkSizeLines) {
  std::array<char, 20> storage;
  EXPECT_EQ(chunk_size_line(0, storage), "0\r\n");
  EXPECT_EQ(chunk_size_line(26, storage), "1a\r\n");
  EXPECT_EQ(chunk_size_line(16384, storage), "4000\r\n");
}

}  // namespace
}  // namespace mcpgate::http
