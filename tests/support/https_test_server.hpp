// An HTTPS server on 127.0.0.1:0 standing in for an OAuth issuer or any other server the
// gateway fetches from on its own: a fresh test PKI (certificate for 127.0.0.1 and
// localhost), one blocking thread per connection, and a test-supplied answer per request.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "support/fake_upstream.hpp"
#include "support/test_pki.hpp"

namespace mcpgate::test {

class https_test_server {
 public:
  using request = bhttp::request<bhttp::string_body>;
  // The raw response bytes for a request (simple_response() writes them), or nullopt to
  // answer nothing and wait until the client gives up. Runs on the connection's thread.
  using responder = std::function<std::optional<std::string>(const request&)>;

  explicit https_test_server(responder r);

  std::uint16_t port() const { return upstream_.port(); }
  // "https://127.0.0.1:<port>" + path
  std::string url(std::string_view path = "") const;
  const std::string& ca_file() const { return pki_.ca_cert; }
  int connections() const { return upstream_.connections_accepted(); }
  // Requests read so far, and how many of them had `target`.
  std::vector<request> requests() const;
  std::size_t count(std::string_view target) const;

 private:
  struct state {
    responder respond;
    mutable std::mutex mutex;
    std::vector<request> seen;
  };
  test_pki pki_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::shared_ptr<state> state_;
  fake_upstream upstream_;  // last: its threads use the members above
};

// A CA file (in the first server's PKI directory) trusting every one of `servers`.
std::string trust_all(std::initializer_list<const https_test_server*> servers);

}  // namespace mcpgate::test
