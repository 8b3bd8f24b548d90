#include "support/https_test_server.hpp"

#include <fstream>
#include <iterator>

#include <boost/asio/ssl/stream.hpp>

namespace mcpgate::test {

namespace ssl = boost::asio::ssl;

https_test_server::https_test_server(responder r)
    : pki_({"localhost"}, {"127.0.0.1"}),
      tls_(server_tls_context(pki_.server_cert, pki_.server_key)),
      state_(std::make_shared<state>()),
      upstream_([tls = tls_, st = state_](tcp::socket& raw) {
        ssl::stream<tcp::socket&> s(raw, *tls);
        boost::system::error_code ec;
        s.handshake(ssl::stream_base::server, ec);
        if (ec) return;
        boost::beast::flat_buffer buffer;
        request req;
        bhttp::read(s, buffer, req, ec);
        if (ec) return;
        {
          std::lock_guard lock(st->mutex);
          st->seen.push_back(req);
        }
        auto answer = st->respond(req);
        if (!answer) {
          char byte;
          s.read_some(boost::asio::buffer(&byte, 1), ec);  // until the client closes
          return;
        }
        boost::asio::write(s, boost::asio::buffer(*answer), ec);
        s.shutdown(ec);
      }) {
  state_->respond = std::move(r);
}

std::string https_test_server::url(std::string_view path) const {
  return "https://127.0.0.1:" + std::to_string(port()) + std::string(path);
}

std::vector<https_test_server::request> https_test_server::requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->seen;
}

std::size_t https_test_server::count(std::string_view target) const {
  std::lock_guard lock(state_->mutex);
  std::size_t n = 0;
  for (const auto& r : state_->seen) n += r.target() == target;
  return n;
}

std::string trust_all(std::initializer_list<const https_test_server*> servers) {
  std::string pem;
  for (const auto* server : servers) {
    std::ifstream in(server->ca_file());
    pem += std::string(std::istreambuf_iterator<char>(in), {});
  }
  return write_file((*servers.begin())->ca_file() + ".all", pem);
}

}  // namespace mcpgate::test
