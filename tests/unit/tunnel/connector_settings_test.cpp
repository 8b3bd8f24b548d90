#include "tunnel/connector.hpp"

#include <gtest/gtest.h>

namespace mcpgate::tunnel {
namespace {

connector_settings valid() {
  connector_settings s;
  s.edge = "edge.example.com:7844";
  s.token_file = "/etc/mcpgate/tunnel.token";
  s.to = "ws://127.0.0.1:8080";
  return s;
}

TEST(ConnectorSettings, ValidOnesPass) {
  EXPECT_EQ(check_connector_settings(valid()), "");
  auto s = valid();
  s.to = "tcp://127.0.0.1:8443";
  s.proxy_protocol = true;
  EXPECT_EQ(check_connector_settings(s), "");
  s.to = "ws://[::1]:8080/tunnel";
  s.proxy_protocol = false;
  EXPECT_EQ(check_connector_settings(s), "");
}

TEST(ConnectorSettings, MistakesSayWhatIsWrong) {
  const struct {
    void (*change)(connector_settings&);
    const char* expected;
  } cases[] = {
      {[](connector_settings& s) { s.edge = "edge.example.com"; }, "--edge must be HOST:PORT"},
      {[](connector_settings& s) { s.token_file.clear(); }, "--token-file is required"},
      {[](connector_settings& s) { s.connections = 0; }, "--connections must be 1..64"},
      {[](connector_settings& s) { s.to = "http://127.0.0.1:8080"; }, "scheme must be ws"},
      {[](connector_settings& s) { s.to = "ws://127.0.0.1"; }, "host and port are required"},
      {[](connector_settings& s) { s.to = "tcp://127.0.0.1:8443/x"; }, "a tcp:// target has no path"},
      {[](connector_settings& s) { s.proxy_protocol = true; }, "--proxy-protocol applies to tcp:// targets only"},
  };
  for (const auto& c : cases) {
    auto s = valid();
    c.change(s);
    const auto why = check_connector_settings(s);
    EXPECT_NE(why.find(c.expected), std::string::npos) << why;
  }
}

}  // namespace
}  // namespace mcpgate::tunnel
