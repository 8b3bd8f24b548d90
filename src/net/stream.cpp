#include "net/stream.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

namespace mcpgate::net {

websocket_bytes::websocket_bytes(boost::beast::tcp_stream tcp) : ws_(std::move(tcp)) {
  namespace websocket = boost::beast::websocket;
  ws_.binary(true);
  // A TLS record must leave as one frame when OpenSSL writes it, not in 4 KiB fragments.
  ws_.auto_fragment(false);
  // Reads are streamed into a bounded buffer whatever the message size, so the per-message
  // cap (16 MiB by default) would only cut long-lived sessions that send one endless message.
  ws_.read_message_max(0);
  // No WebSocket-level timers: deadlines are on the TCP layer like every other stream.
  ws_.set_option(websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(), false});
  ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
    res.set(boost::beast::http::field::server, "mcpgate");
  }));
}

}  // namespace mcpgate::net

namespace mcpgate::net {

void maybe_tls_stream::set_client_identity(const std::string& server_name) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(server_name, ec);
  const bool is_ip = !ec;
  SSL* ssl = tls_ ? tls_->native_handle() : ws_tls_->native_handle();
  if (!is_ip) SSL_set_tlsext_host_name(ssl, server_name.c_str());
  auto verify = boost::asio::ssl::host_name_verification(server_name);
  if (tls_) {
    tls_->set_verify_callback(verify);
  } else {
    ws_tls_->set_verify_callback(verify);
  }
}

}  // namespace mcpgate::net
