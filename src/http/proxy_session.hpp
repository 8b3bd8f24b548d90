// A downstream session: one client connection's life on one worker, serving exchanges
// (request -> route -> upstream -> streamed response) until the client or the gateway
// ends it. See docs/life_of_a_request.md for the whole path.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "http/upstream.hpp"
#include "net/ip_prefix.hpp"
#include "net/stream.hpp"
#include "observability/logging.hpp"

#include "mcp/answers.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/policy.hpp"

namespace mcpgate::http {

class worker;
class listener_connections;
class upstream_set;
struct runtime_snapshot;

// What MCP inspection learned about one exchange, for the filters after it and the audit log.
struct mcp_exchange {
  std::string body;                                 // the request body, read whole
  std::optional<mcp::inspected_request> request;    // set when the body was inspected
  std::vector<mcp::list_filter> list_filters;       // list answers to filter
  std::optional<mcp::answer_watch> answers;         // audit: the answers seen in the response
  const struct config::route* route = nullptr;
  auth::identity caller;  // who the route's auth says is calling (anonymous without auth)
};

class downstream_session : public std::enable_shared_from_this<downstream_session> {
 public:
  // `kind` tls: the TLS handshake comes first; websocket_tls: the WebSocket upgrade, then
  // the TLS handshake inside it. Both need `tls_context`.
  // `listener_index`: which configured listener accepted it (its access rule applies).
  // `connections`: the listener's connection counts; the acceptor counted this one, the
  // session gives it back when it ends (and its per-client count, if it took one).
  downstream_session(worker& owner, boost::asio::ip::tcp::socket socket, std::size_t listener_index,
                     net::stream_kind kind, std::shared_ptr<boost::asio::ssl::context> tls_context,
                     std::shared_ptr<listener_connections> connections = nullptr);
  ~downstream_session();
  downstream_session(const downstream_session&) = delete;
  downstream_session& operator=(const downstream_session&) = delete;

  static void start(std::shared_ptr<downstream_session> session);

  // Graceful: an idle session closes now, a busy one after its exchange.
  void request_close();
  // Shutdown deadline: close the sockets under whatever is running.
  void force_close();
  // Called by the worker's periodic tick: arms the client-disconnect watcher of an
  // exchange that has been waiting long enough to be worth watching.
  void on_tick(std::chrono::steady_clock::time_point now);

 private:
  enum class phase { handshake, idle, busy };
  using request_parser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;

  static boost::asio::awaitable<void> run(std::shared_ptr<downstream_session> self);
  boost::asio::awaitable<bool> accept_websocket();
  // Reads exactly the PROXY protocol header (peeking first, so TLS bytes behind it stay in
  // the socket) and takes the client address from it. False: no valid header in time.
  boost::asio::awaitable<bool> read_proxy_header();
  // The listener's access rule and per-client connection limit for the client address
  // known so far; false: close now (logged with reason ip_denied / client_connection_limit).
  // Before TLS, so a refused client costs no handshake.
  bool listener_admits(const runtime_snapshot& snap);
  boost::asio::awaitable<void> refuse_upgrade(unsigned status, std::string_view reason, std::string_view body,
                                              observability::access_record& log);
  boost::asio::awaitable<bool> handshake();
  boost::asio::awaitable<bool> wait_for_request(std::chrono::milliseconds idle_limit);
  // One exchange; returns whether the connection may carry another.
  boost::asio::awaitable<bool> serve_exchange();
  // Forwards the exchange. With `mcp.request` set the body was read (and inspected) already
  // and is sent whole; otherwise the body (if any) is streamed from the client as it
  // arrives. `mcp.list_filters`: list answers whose entries the route's rules hide.
  boost::asio::awaitable<bool> proxy(const runtime_snapshot& snap, const struct config::route& route,
                                     request_parser& parser, observability::access_record& log, mcp_exchange& mcp);
  // One audit line per JSON-RPC request or notification of the exchange.
  void write_audit_records(const runtime_snapshot& snap, const mcp_exchange& mcp,
                           const observability::access_record& log) const;
  // Reads an upstream response body whole into `out` (bounded by the parser's body limit).
  boost::asio::awaitable<boost::system::error_code> read_upstream_body(
      upstream_connection& upstream, boost::beast::http::response_parser<boost::beast::http::buffer_body>& parser,
      std::string& out, const struct config::route& route);
  // What a failed request-body read means: 413 (over the limit), 408 (stalled), or the
  // client left; recorded in `log`.
  boost::asio::awaitable<void> request_body_failed(boost::system::error_code ec, observability::access_record& log,
                                                   const struct config::route& route);
  // The exchange is over: the upstream connection goes back to the pool if `reusable`
  // (its response ended cleanly and it allows keep-alive) and the client is still there.
  void release_upstream(upstream_connection_ptr upstream, bool reusable);
  // Counts (and for dry-run rules logs) the list entries a filter hid or would have hidden.
  void note_hidden(const runtime_snapshot& snap, const mcp::filter_outcome& outcome);
  // Routes with several upstreams: the instance for this request (the one its session id
  // names, whose own id then replaces it in `req`; or the least busy fit one for a request
  // without a session); nullopt: a session id the gateway did not make (404).
  std::optional<std::size_t> choose_instance(const runtime_snapshot& snap, const config::route& route,
                                             upstream_set& instances, request_parser::value_type& req);
  // One piece of an SSE list answer through `filter` into `out`; false: an event too large.
  bool filter_list_piece(const runtime_snapshot& snap, mcp::list_event_filter& filter, std::string_view piece,
                         bool last, std::string& out);
  // Reads the rest of the request body into `out`, bounded by the parser's body limit.
  // False: the exchange is over (413 answered, or the client stalled or left).
  boost::asio::awaitable<bool> read_whole_body(request_parser& parser, std::string& out,
                                               observability::access_record& log, const struct config::route& route);
  // Extra header fields of a reply the gateway makes (WWW-Authenticate, CORS).
  using reply_fields = std::vector<std::pair<std::string_view, std::string>>;
  // A reply made by the gateway. On an MCP route (`route` given, route->mcp) the body is a
  // JSON-RPC error carrying `body` as its message; `retry_after` adds Retry-After (seconds).
  boost::asio::awaitable<void> local_reply(unsigned status, std::string_view reason, std::string_view body,
                                           observability::access_record& log, bool keep_alive,
                                           const config::route* route = nullptr,
                                           std::optional<std::uint64_t> retry_after = std::nullopt,
                                           const reply_fields& fields = {});
  // local_reply for a request the gateway refuses before forwarding it; the rest of a small
  // body is read and dropped first. Returns whether the connection may carry another request.
  boost::asio::awaitable<bool> refuse(unsigned status, std::string_view reason, std::string_view body,
                                      observability::access_record& log, request_parser& parser,
                                      const config::route* route = nullptr,
                                      std::optional<std::uint64_t> retry_after = std::nullopt,
                                      const reply_fields& fields = {});
  // The route's `auth:` on this request. nullopt: allowed (`caller` set, logged in `log`);
  // otherwise the request was refused (401 / 403 / 400 / 503 answered) and the value says
  // whether the connection may carry another request.
  boost::asio::awaitable<std::optional<bool>> authenticate(const runtime_snapshot& snap, const config::route& route,
                                                           request_parser& parser, observability::access_record& log,
                                                           auth::identity& caller);
  // GET of an oauth route's protected resource metadata (RFC 9728): the route it
  // describes, or null when `path` is no such document of a route on `host`.
  const config::route* metadata_route(const runtime_snapshot& snap, std::string_view host, std::string_view path) const;
  // Takes a token from each of the route's rate limits; the seconds to wait when one has
  // none (its rule recorded in `log`), nullopt when the request may go on.
  std::optional<std::uint64_t> rate_limited(const runtime_snapshot& snap, const config::route& route,
                                            observability::access_record& log,
                                            const mcp::inspected_request* inspected);
  // The route's tools / prompts / resources rules on the request's calls: the JSON-RPC
  // error body to answer with when one is refused (counted, rule in `log`; "" when only
  // notifications were refused: nothing to answer), else nullopt.
  std::optional<std::string> refused_calls(const runtime_snapshot& snap, const config::route& route,
                                           const mcp::inspected_request& inspected, const auth::identity& caller,
                                           observability::access_record& log);
  // Writes a reply the gateway makes itself, body given as is.
  boost::asio::awaitable<void> write_reply(unsigned status, std::string_view reason, std::string_view content_type,
                                           std::string_view body, observability::access_record& log, bool keep_alive,
                                           std::optional<std::uint64_t> retry_after = std::nullopt,
                                           const reply_fields& fields = {});

  boost::asio::awaitable<void> lingering_close();
  // Waits until `socket` is readable, at most `limit` (0: no limit); beast timeout on expiry.
  boost::asio::awaitable<boost::system::error_code> wait_readable(boost::asio::ip::tcp::socket& socket,
                                                                  std::chrono::milliseconds limit);
  void watch_for_client_close();
  void stop_watching();

  worker& worker_;
  boost::asio::steady_timer wait_deadline_;
  unsigned wait_generation_ = 0;
  bool wait_timed_out_ = false;
  net::maybe_tls_stream stream_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;  // kept alive as long as the stream uses it
  boost::asio::ip::tcp::endpoint peer_;
  std::string peer_ip_;    // socket peer
  std::string client_ip_;  // the peer, or the client a trusted proxy reported (logs, X-Forwarded-For)
  net::ip_bytes client_address_{};  // client_ip_ as access rules see it
  std::string exchange_client_;      // this exchange's client: client_ip_, or what a trusted proxy says
  net::ip_bytes exchange_address_{};
  std::size_t listener_index_;
  std::shared_ptr<listener_connections> connections_;
  std::optional<net::ip_bytes> counted_client_;  // the network counted for max_connections_per_client
  boost::beast::flat_buffer buffer_;  // downstream bytes read and not yet parsed
  phase phase_ = phase::idle;
  bool close_requested_ = false;
  bool client_gone_ = false;
  bool linger_ = false;  // the last reply closes the connection: drain before closing
  unsigned watch_generation_ = 0;
  bool watching_ = false;
  std::chrono::steady_clock::time_point watch_due_{};  // zero: nothing to arm
  upstream_connection* current_upstream_ = nullptr;  // while an exchange uses one
  // This exchange's wait for the upstream's response header (metrics), once it came.
  std::optional<std::chrono::microseconds> upstream_header_time_;
};

}  // namespace mcpgate::http
