// `mcpgate hello`: the built-in sample MCP server, serving until SIGINT/SIGTERM.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <charconv>
#include <cstdint>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "app/commands.hpp"
#include "mcp/hello_server.hpp"

namespace mcpgate::app {
namespace {

// "host:port", "[v6]:port" or ":port" (loopback). Returns false when malformed.
bool split_listen(std::string_view listen, std::string& host, std::uint16_t& port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos) return false;
  auto host_part = listen.substr(0, colon);
  const auto port_part = listen.substr(colon + 1);
  if (host_part.size() >= 2 && host_part.front() == '[' && host_part.back() == ']')
    host_part = host_part.substr(1, host_part.size() - 2);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
  if (ec != std::errc{} || end != port_part.data() + port_part.size() || value > 65535) return false;
  host = host_part.empty() ? "127.0.0.1" : std::string(host_part);
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

int run_hello(const hello_options& options) {
  mcp::hello_server::options server_options;
  if (!split_listen(options.listen, server_options.host, server_options.port)) {
    std::fprintf(stderr, "mcpgate hello: --listen must be host:port, got \"%s\"\n", options.listen.c_str());
    return 2;
  }
  server_options.slow_default_steps = options.slow_default_steps;

  boost::asio::io_context io(1);
  mcp::hello_server server(io, server_options);
  boost::asio::ip::tcp::endpoint endpoint;
  try {
    endpoint = server.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcpgate hello: cannot listen on %s: %s\n", options.listen.c_str(), e.what());
    return 1;
  }

  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  // Scripts and tests wait for this exact line to learn the port.
  std::printf("mcpgate hello: MCP endpoint http://%s:%u/mcp\n", host.c_str(), unsigned{endpoint.port()});
  std::fflush(stdout);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&server](const boost::system::error_code& ec, int) {
    if (!ec) server.stop();
  });
  io.run();
  return 0;
}

}  // namespace mcpgate::app
