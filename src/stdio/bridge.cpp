#include "stdio/bridge.hpp"

#include <signal.h>
#include <sys/socket.h>

#include <unistd.h>

#include <deque>
#include <optional>
#include <set>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "observability/throttle.hpp"
#include "stdio/child_process.hpp"
#include "observability/log.hpp"

namespace mcpgate::stdio {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_backlog_messages = 256;      // server messages for a session with no stream open
constexpr std::size_t max_stderr_line = 2048;          // longer stderr lines are cut for the log
constexpr auto max_restart_delay = std::chrono::seconds(30);
constexpr auto stable_run = std::chrono::seconds(60);  // a process that ran this long restarts at 1 s again
constexpr unsigned max_failed_starts = 10;             // then its sessions end (404: clients re-initialize)

std::string new_session_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string rpc_error(const json::value& id, int code, std::string_view message) {
  json::object error{{"code", code}, {"message", message}};
  return json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
}

const json::value* member(const json::value& v, std::string_view key) {
  const auto* obj = v.if_object();
  if (!obj) return nullptr;
  return obj->if_contains(key);
}

std::string_view method_of(const json::value& v) {
  const auto* m = member(v, "method");
  if (!m || !m->is_string()) return {};
  return m->get_string();
}

// Answers and server messages for one HTTP response: a POST's SSE stream (ends once every
// request of the POST is answered) or a session's GET stream (ends when the client leaves).
struct message_sink {
  message_sink(asio::io_context& io, std::size_t max_bytes, bool standalone)
      : wake(io, steady::time_point::max()), max_queued_bytes(max_bytes), standalone(standalone) {}

  void push(std::string message) {
    if (gone || ended) return;
    queued_bytes += message.size();
    if (queued_bytes > max_queued_bytes) {
      // The client reads slower than the server writes: drop the stream, not the memory bound.
      gone = true;
      events.clear();
    } else {
      events.push_back(std::move(message));
    }
    wake.cancel();
  }
  void answered() {
    if (awaiting > 0) --awaiting;
    wake.cancel();
  }
  void end() {
    ended = true;
    wake.cancel();
  }
  bool open() const { return !gone && !ended; }
  bool done() const { return gone || (events.empty() && (ended || (!standalone && awaiting == 0))); }

  asio::steady_timer wake;  // cancelled whenever there is something to do
  std::deque<std::string> events;
  std::size_t queued_bytes = 0;
  std::size_t max_queued_bytes;
  std::size_t awaiting = 0;  // answers still to come
  bool standalone;
  bool gone = false;   // the client left or fell too far behind
  bool ended = false;  // the bridge ends it (the process restarted, the session ended)
};
using sink_ptr = std::shared_ptr<message_sink>;

struct server_process;

struct session {
  std::string id;
  std::shared_ptr<server_process> process;
  std::weak_ptr<message_sink> get_stream;
  std::deque<std::string> backlog;
  steady::time_point last_active = steady::now();
  std::size_t in_flight = 0;  // requests written and not yet answered
  bool ready = false;         // its initialize was answered
  bool ended = false;
};
using session_ptr = std::shared_ptr<session>;

struct pending_call {
  std::weak_ptr<session> owner;
  json::value client_id;
  std::weak_ptr<message_sink> sink;
  bool initialize = false;
  bool internal = false;  // the bridge's own initialize after a restart
  std::optional<json::value> client_progress_token;
};

enum class process_state { running, restarting, stopping, stopped };

struct server_process {
  explicit server_process(asio::io_context& io) : timer(io) {}

  std::shared_ptr<child_process> child;
  process_state state = process_state::running;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, pending_call> calls;  // by the id the bridge gave the request
  std::map<std::string, std::weak_ptr<session>> server_requests;  // the server's request id (JSON) -> session
  std::vector<std::weak_ptr<session>> sessions;
  std::optional<json::value> initialize_params;  // replayed after a restart
  std::optional<json::value> initialize_result;  // shared: the answer later sessions get
  bool initialized_sent = false;
  std::deque<std::string> to_write;
  std::size_t to_write_bytes = 0;
  bool writing = false;
  unsigned restarts = 0;
  steady::time_point started_at = steady::now();
  steady::time_point idle_since = steady::now();  // shared: when its last session ended
  asio::steady_timer timer;  // restart backoff, kill grace
  double stderr_budget = 50;
  steady::time_point stderr_refill = steady::now();
};
using process_ptr = std::shared_ptr<server_process>;

}  // namespace

class route_bridge : public std::enable_shared_from_this<route_bridge> {
 public:
  route_bridge(asio::io_context& io, std::string route_name, config::stdio_server spec, std::atomic<std::size_t>& live)
      : io_(io), route_(std::move(route_name)), spec_(std::move(spec)), live_(live), reaper_(io) {}

  void start_reaper() { asio::co_spawn(io_, reap_idle(shared_from_this()), asio::detached); }
  void serve(int fd);
  void retire();  // on the bridge thread
  void kill_all() {
    for (const auto& p : processes_) {
      if (p->child) p->child->signal_group(SIGKILL);
    }
  }

 private:
  struct channel {
    explicit channel(asio::ip::tcp::socket s) : stream(std::move(s)) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
  };
  using channel_ptr = std::shared_ptr<channel>;
  using request = http::request<http::string_body>;

  static asio::awaitable<void> serve_channel(std::shared_ptr<route_bridge> self, channel_ptr ch);
  asio::awaitable<bool> handle(channel_ptr ch, request& req);
  asio::awaitable<bool> handle_post(channel_ptr ch, request& req);
  asio::awaitable<bool> handle_get(channel_ptr ch, request& req);
  asio::awaitable<bool> reply(channel& ch, const request& req, http::status status, std::string body,
                              const std::string& session_id = {});
  asio::awaitable<bool> stream_events(channel_ptr ch, const request& req, sink_ptr sink, const std::string& session_id);
  static asio::awaitable<void> watch_close(channel_ptr ch, sink_ptr sink);

  session_ptr find_session(const request& req);
  // A new session with its own process (or the shared one). Throws spawn_error.
  session_ptr open_session();
  process_ptr start_process();
  void end_session(const session_ptr& s, std::string_view why);
  void stop_process(const process_ptr& p);

  void forward_call(const process_ptr& p, const session_ptr& s, json::value message, const sink_ptr& sink);
  static asio::awaitable<void> expire_initialize(std::shared_ptr<route_bridge> self, process_ptr p, std::uint64_t id);
  void forward_notification(const process_ptr& p, const session_ptr& s, json::value message);
  void forward_answer(const process_ptr& p, const session_ptr& s, const json::value& message);
  void write_line(const process_ptr& p, std::string line);
  static asio::awaitable<void> write_loop(std::shared_ptr<route_bridge> self, process_ptr p,
                                          std::shared_ptr<child_process> child);

  static asio::awaitable<void> read_output(std::shared_ptr<route_bridge> self, process_ptr p,
                                           std::shared_ptr<child_process> child);
  static asio::awaitable<void> read_errors(std::shared_ptr<route_bridge> self, process_ptr p,
                                           std::shared_ptr<child_process> child);
  static asio::awaitable<void> supervise(std::shared_ptr<route_bridge> self, process_ptr p);
  static asio::awaitable<void> reap_idle(std::shared_ptr<route_bridge> self);
  void start_io(const process_ptr& p);
  void replay_initialize(const process_ptr& p);
  void on_server_message(const process_ptr& p, json::value message);
  void on_answer(const process_ptr& p, json::value message);
  session_ptr session_for_server_request(const process_ptr& p);
  void deliver(const session_ptr& s, std::string text, bool prefer_call_stream);
  sink_ptr latest_call_stream(const process_ptr& p, const session_ptr& s);
  void fail_in_flight(const process_ptr& p, const std::string& why);

  asio::io_context& io_;
  std::string route_;
  config::stdio_server spec_;
  std::atomic<std::size_t>& live_;
  asio::steady_timer reaper_;
  std::map<std::string, session_ptr> sessions_;
  std::vector<process_ptr> processes_;  // live ones
  process_ptr shared_;                  // shared: true
  bool retired_ = false;
};

// ---- HTTP side ------------------------------------------------------------------------

void route_bridge::serve(int fd) {
  asio::ip::tcp::socket socket(io_);
  error_code ec;
  socket.assign(asio::ip::tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  asio::co_spawn(io_, serve_channel(shared_from_this(), std::make_shared<channel>(std::move(socket))), asio::detached);
}

asio::awaitable<void> route_bridge::serve_channel(std::shared_ptr<route_bridge> self, channel_ptr ch) {
  while (!self->retired_) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(self->spec_.max_message_bytes);
    auto [ec, n] = co_await http::async_read(ch->stream, ch->buffer, parser, nothrow);
    if (ec) break;
    request req = parser.release();
    const bool keep = co_await self->handle(ch, req);
    if (!keep || !req.keep_alive()) break;
  }
  error_code ignored;
  ch->stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  ch->stream.socket().close(ignored);
}

asio::awaitable<bool> route_bridge::handle(channel_ptr ch, request& req) {
  switch (req.method()) {
    case http::verb::post: co_return co_await handle_post(ch, req);
    case http::verb::get: co_return co_await handle_get(ch, req);
    case http::verb::delete_: {
      auto s = find_session(req);
      if (!s) co_return co_await reply(*ch, req, http::status::not_found, rpc_error(nullptr, -32001, "Session not found"));
      end_session(s, "deleted by the client");
      co_return co_await reply(*ch, req, http::status::ok, "");
    }
    default:
      co_return co_await reply(*ch, req, http::status::method_not_allowed,
                               rpc_error(nullptr, -32000, "Method not allowed: use POST, GET or DELETE"));
  }
}

session_ptr route_bridge::find_session(const request& req) {
  const auto it = sessions_.find(std::string(req["mcp-session-id"]));
  return it == sessions_.end() ? nullptr : it->second;
}

asio::awaitable<bool> route_bridge::handle_post(channel_ptr ch, request& req) {
  error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec) co_return co_await reply(*ch, req, http::status::bad_request, rpc_error(nullptr, -32700, "Parse error"));
  std::vector<json::value> messages;
  if (auto* batch = body.if_array()) {
    for (auto& m : *batch) messages.push_back(std::move(m));
  } else {
    messages.push_back(std::move(body));
  }
  bool initialize = false;
  bool any_request = false;
  for (const auto& m : messages) {
    const bool has_method = !method_of(m).empty();
    const bool has_id = member(m, "id") != nullptr;
    const bool is_answer = !has_method && has_id && (member(m, "result") || member(m, "error"));
    if (!m.is_object() || (!has_method && !is_answer)) {
      co_return co_await reply(*ch, req, http::status::bad_request, rpc_error(nullptr, -32600, "Invalid Request"));
    }
    any_request = any_request || (has_method && has_id);
    initialize = initialize || (has_id && method_of(m) == "initialize");
  }
  if (messages.empty()) co_return co_await reply(*ch, req, http::status::bad_request, rpc_error(nullptr, -32600, "Invalid Request"));

  session_ptr s;
  if (initialize) {
    if (messages.size() != 1) {
      co_return co_await reply(*ch, req, http::status::bad_request,
                               rpc_error(nullptr, -32600, "Invalid Request: initialize must be sent on its own"));
    }
    // No co_await inside a catch block: remember the failure, answer after it.
    std::optional<std::pair<http::status, std::string>> failure;
    try {
      s = open_session();
    } catch (const spawn_error& e) {
      // Each new MCP session tries: a broken command must not write a line per client request.
      observability::log_throttled(log::stdio(), spdlog::level::warn, "stdio-start:" + route_,
                                   "stdio server did not start route={} command={}: {}", route_, spec_.command_text,
                                   e.what());
      failure.emplace(http::status::bad_gateway,
                      rpc_error(nullptr, -32603, std::string("The MCP server could not be started: ") + e.what()));
    } catch (const std::length_error& e) {
      failure.emplace(http::status::service_unavailable, rpc_error(nullptr, -32000, e.what()));
    }
    if (failure) co_return co_await reply(*ch, req, failure->first, std::move(failure->second));
  } else {
    if (req["mcp-session-id"].empty()) {
      co_return co_await reply(*ch, req, http::status::bad_request,
                               rpc_error(nullptr, -32000, "Bad Request: Mcp-Session-Id header is required"));
    }
    s = find_session(req);
    if (!s) co_return co_await reply(*ch, req, http::status::not_found, rpc_error(nullptr, -32001, "Session not found"));
  }
  s->last_active = steady::now();
  const process_ptr p = s->process;
  sink_ptr sink = any_request ? std::make_shared<message_sink>(io_, 4 * spec_.max_message_bytes, false) : nullptr;
  for (auto& m : messages) {
    const bool has_method = !method_of(m).empty();
    const bool has_id = member(m, "id") != nullptr;
    if (has_method && has_id) {
      forward_call(p, s, std::move(m), sink);
    } else if (has_method) {
      forward_notification(p, s, std::move(m));
    } else {
      forward_answer(p, s, m);
    }
  }
  if (!sink) co_return co_await reply(*ch, req, http::status::accepted, "");
  std::string new_session;  // g++ 12: no ?: inside a co_await expression
  if (initialize) new_session = s->id;
  co_return co_await stream_events(ch, req, sink, new_session);
}

asio::awaitable<bool> route_bridge::handle_get(channel_ptr ch, request& req) {
  if (req["mcp-session-id"].empty()) {
    co_return co_await reply(*ch, req, http::status::bad_request,
                             rpc_error(nullptr, -32000, "Bad Request: Mcp-Session-Id header is required"));
  }
  auto s = find_session(req);
  if (!s) co_return co_await reply(*ch, req, http::status::not_found, rpc_error(nullptr, -32001, "Session not found"));
  // One standalone stream per session: a new GET (a reconnect) takes over from the old one.
  if (auto old = s->get_stream.lock()) old->end();
  auto sink = std::make_shared<message_sink>(io_, 4 * spec_.max_message_bytes, true);
  s->get_stream = sink;
  s->last_active = steady::now();
  while (!s->backlog.empty()) {
    sink->push(std::move(s->backlog.front()));
    s->backlog.pop_front();
  }
  const bool keep = co_await stream_events(ch, req, sink, {});
  s->last_active = steady::now();
  co_return keep;
}

asio::awaitable<bool> route_bridge::reply(channel& ch, const request& req, http::status status, std::string body,
                                          const std::string& session_id) {
  http::response<http::string_body> res{status, req.version()};
  if (!body.empty()) res.set(http::field::content_type, "application/json");
  if (!session_id.empty()) res.set("Mcp-Session-Id", session_id);
  if (status == http::status::method_not_allowed) res.set(http::field::allow, "GET, POST, DELETE");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(ch.stream, res, nothrow);
  co_return !ec;
}

asio::awaitable<void> route_bridge::watch_close(channel_ptr ch, sink_ptr sink) {
  // While a stream is open the gateway sends nothing more on this connection: the socket
  // becoming readable means it closed (the client left).
  auto [ec] = co_await ch->stream.socket().async_wait(asio::ip::tcp::socket::wait_read, nothrow);
  if (ec) co_return;
  sink->gone = true;
  sink->wake.cancel();
}

asio::awaitable<bool> route_bridge::stream_events(channel_ptr ch, const request& req, sink_ptr sink,
                                                  const std::string& session_id) {
  http::response<http::empty_body> res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  if (!session_id.empty()) res.set("Mcp-Session-Id", session_id);
  res.chunked(true);
  res.keep_alive(req.keep_alive());
  http::response_serializer<http::empty_body> serializer{res};
  auto [hec, hn] = co_await http::async_write_header(ch->stream, serializer, nothrow);
  if (hec) {
    sink->gone = true;
    co_return false;
  }
  asio::co_spawn(io_, watch_close(ch, sink), asio::detached);
  std::string event;
  for (;;) {
    while (!sink->events.empty() && !sink->gone) {
      event = "event: message\ndata: ";
      event += sink->events.front();
      event += "\n\n";
      sink->queued_bytes -= sink->events.front().size();
      sink->events.pop_front();
      auto [ec, n] = co_await asio::async_write(ch->stream, http::make_chunk(asio::buffer(event)), nothrow);
      if (ec) sink->gone = true;
    }
    if (sink->done()) break;
    sink->wake.expires_at(steady::time_point::max());
    co_await sink->wake.async_wait(nothrow);
  }
  error_code ignored;
  if (sink->gone) co_return false;
  ch->stream.socket().cancel(ignored);  // the close watcher
  auto [ec, n] = co_await asio::async_write(ch->stream, http::make_chunk_last(), nothrow);
  co_return !ec;
}

// ---- sessions and processes -----------------------------------------------------------

session_ptr route_bridge::open_session() {
  auto s = std::make_shared<session>();
  s->id = new_session_id();
  if (spec_.shared) {
    if (!shared_ || shared_->state == process_state::stopped || shared_->state == process_state::stopping) {
      shared_ = start_process();
    }
    s->process = shared_;
  } else {
    if (processes_.size() >= spec_.max_processes) {
      throw std::length_error("Too many MCP sessions on this stdio server (max_processes " +
                              std::to_string(spec_.max_processes) + "); try again later");
    }
    s->process = start_process();
  }
  s->process->sessions.push_back(s);
  sessions_.emplace(s->id, s);
  return s;
}

process_ptr route_bridge::start_process() {
  auto p = std::make_shared<server_process>(io_);
  p->child = child_process::spawn(io_, spec_);
  ++live_;
  processes_.push_back(p);
  log::stdio().info("stdio server started route={} pid={} command={}", route_, p->child->pid(), spec_.command_text);
  start_io(p);
  asio::co_spawn(io_, supervise(shared_from_this(), p), asio::detached);
  return p;
}

void route_bridge::start_io(const process_ptr& p) {
  p->started_at = steady::now();
  asio::co_spawn(io_, read_output(shared_from_this(), p, p->child), asio::detached);
  asio::co_spawn(io_, read_errors(shared_from_this(), p, p->child), asio::detached);
}

void route_bridge::end_session(const session_ptr& s, std::string_view why) {
  if (s->ended) return;
  s->ended = true;
  sessions_.erase(s->id);
  if (auto g = s->get_stream.lock()) g->end();
  log::stdio().debug("stdio session ended route={} session={}: {}", route_, s->id, why);
  const process_ptr p = s->process;
  std::erase_if(p->sessions, [&](const std::weak_ptr<session>& w) {
    auto l = w.lock();
    return !l || l == s;
  });
  // Its requests still in flight end now; their streams close.
  for (auto it = p->calls.begin(); it != p->calls.end();) {
    if (it->second.owner.lock() == s || it->second.owner.expired()) {
      if (auto sink = it->second.sink.lock()) sink->answered();
      it = p->calls.erase(it);
    } else {
      ++it;
    }
  }
  if (p->sessions.empty()) {
    p->idle_since = steady::now();
    if (!spec_.shared) stop_process(p);
  }
}

void route_bridge::stop_process(const process_ptr& p) {
  if (p->state == process_state::stopping || p->state == process_state::stopped) return;
  const bool was_running = p->state == process_state::running;
  p->state = process_state::stopping;
  p->timer.cancel();  // a pending restart
  if (!was_running || !p->child || p->child->exited()) return;
  // EOF on stdin asks politely; the process group gets SIGTERM, then SIGKILL after 2 s.
  p->child->close_input();
  p->child->signal_group(SIGTERM);
  auto child = p->child;
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(2));
  timer->async_wait([child, timer](error_code ec) {
    if (!ec) child->signal_group(SIGKILL);
  });
}

asio::awaitable<void> route_bridge::supervise(std::shared_ptr<route_bridge> self, process_ptr p) {
  unsigned failed_starts = 0;
  for (;;) {
    auto child = p->child;
    const std::string how = co_await child->wait_exit();
    child->signal_group(SIGKILL);  // whatever it started goes with it
    --self->live_;
    const bool expected = p->state == process_state::stopping;
    if (expected) {
      log::stdio().info("stdio server stopped route={} pid={}: {}", self->route_, child->pid(), how);
    } else {
      // A server that crashes on some request crashes as often as clients send it.
      observability::log_throttled(log::stdio(), spdlog::level::warn, "stdio-exited:" + self->route_,
                                   "stdio server exited route={} pid={}: {}", self->route_, child->pid(), how);
    }
    self->fail_in_flight(p, "The MCP server process exited (" + how + ")");
    bool any_ready = false;
    for (const auto& w : p->sessions) {
      if (auto s = w.lock(); s && s->ready) any_ready = true;
    }
    if (expected || self->retired_ || !any_ready) break;

    // Start again with backoff; the sessions keep their ids and get the initialize replayed.
    p->state = process_state::restarting;
    bool started = false;
    while (!started && p->state == process_state::restarting) {
      if (steady::now() - p->started_at > stable_run) p->restarts = 0;
      const auto delay = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(1000 << std::min(p->restarts, 5u)),
                                                            max_restart_delay);
      ++p->restarts;
      p->timer.expires_after(delay);
      auto [ec] = co_await p->timer.async_wait(nothrow);
      if (ec || p->state != process_state::restarting) break;
      try {
        p->child = child_process::spawn(self->io_, self->spec_);
        started = true;
        failed_starts = 0;
        ++self->live_;
      } catch (const spawn_error& e) {
        observability::log_throttled(log::stdio(), spdlog::level::warn, "stdio-restart:" + self->route_,
                                     "stdio server restart failed route={} (attempt {}): {}", self->route_, p->restarts,
                                     e.what());
        if (++failed_starts >= max_failed_starts) break;
      }
    }
    if (!started) break;
    log::stdio().info("stdio server restarted route={} pid={} after {} restart(s)", self->route_, p->child->pid(), p->restarts);
    p->state = process_state::running;
    self->start_io(p);
    self->replay_initialize(p);
  }
  p->state = process_state::stopped;
  std::erase(self->processes_, p);
  if (self->shared_ == p) self->shared_ = nullptr;
  const auto sessions = p->sessions;
  for (const auto& w : sessions) {
    if (auto s = w.lock()) self->end_session(s, "its server process ended");
  }
  p->sessions.clear();
}

void route_bridge::replay_initialize(const process_ptr& p) {
  p->initialized_sent = false;
  if (!p->initialize_params) return;
  const std::uint64_t id = p->next_id++;
  pending_call call;
  call.internal = true;
  p->calls.emplace(id, std::move(call));
  write_line(p, json::serialize(json::object{
                    {"jsonrpc", "2.0"}, {"id", id}, {"method", "initialize"}, {"params", *p->initialize_params}}));
}

void route_bridge::fail_in_flight(const process_ptr& p, const std::string& why) {
  auto calls = std::move(p->calls);
  p->calls.clear();
  for (auto& [id, call] : calls) {
    if (auto s = call.owner.lock(); s && s->in_flight > 0) --s->in_flight;
    if (call.internal) continue;
    if (auto sink = call.sink.lock()) {
      sink->push(rpc_error(call.client_id, -32603, why));
      sink->answered();
    }
    if (call.initialize) {
      if (auto s = call.owner.lock(); s && !s->ready) end_session(s, "its initialize failed");
    }
  }
  p->server_requests.clear();
  p->to_write.clear();
  p->to_write_bytes = 0;
  for (const auto& w : p->sessions) {
    if (auto s = w.lock()) {
      if (auto g = s->get_stream.lock()) g->end();  // the client opens it again
    }
  }
}

asio::awaitable<void> route_bridge::reap_idle(std::shared_ptr<route_bridge> self) {
  const auto tick = std::clamp<std::chrono::milliseconds>(self->spec_.idle_timeout / 4, std::chrono::milliseconds(50),
                                                          std::chrono::milliseconds(5000));
  while (!self->retired_) {
    self->reaper_.expires_after(tick);
    auto [ec] = co_await self->reaper_.async_wait(nothrow);
    if (ec || self->retired_) break;
    const auto now = steady::now();
    std::vector<session_ptr> idle;
    for (const auto& [id, s] : self->sessions_) {
      auto g = s->get_stream.lock();
      const bool busy = s->in_flight > 0 || (g && g->open());
      if (!busy && now - s->last_active >= self->spec_.idle_timeout) idle.push_back(s);
    }
    for (const auto& s : idle) self->end_session(s, "idle");
    if (self->shared_ && self->shared_->sessions.empty() && now - self->shared_->idle_since >= self->spec_.idle_timeout) {
      self->stop_process(self->shared_);
    }
  }
}

void route_bridge::retire() {
  retired_ = true;
  reaper_.cancel();
  auto sessions = sessions_;
  for (const auto& [id, s] : sessions) end_session(s, "the gateway stops this route");
  for (const auto& p : std::vector<process_ptr>(processes_)) stop_process(p);
}

// ---- messages to the server -----------------------------------------------------------

void route_bridge::forward_call(const process_ptr& p, const session_ptr& s, json::value message, const sink_ptr& sink) {
  const json::value client_id = *member(message, "id");
  if (p->state != process_state::running) {
    sink->push(rpc_error(client_id, -32603, "The MCP server is restarting; try again shortly"));
    return;
  }
  if (p->to_write_bytes > 4 * spec_.max_message_bytes) {
    sink->push(rpc_error(client_id, -32000, "The MCP server is not reading its input; try again later"));
    return;
  }
  const bool initialize = method_of(message) == "initialize";
  if (initialize && p->initialize_result) {
    // shared: the process was initialized by an earlier session; its answer serves this one.
    s->ready = true;
    sink->push(json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", client_id}, {"result", *p->initialize_result}}));
    return;
  }
  const std::uint64_t id = p->next_id++;
  pending_call call;
  call.owner = s;
  call.client_id = client_id;
  call.sink = sink;
  call.initialize = initialize;
  auto& obj = message.as_object();
  if (auto* params = obj.if_contains("params"); params && params->is_object()) {
    if (auto* meta = params->as_object().if_contains("_meta"); meta && meta->is_object()) {
      if (auto* token = meta->as_object().if_contains("progressToken")) {
        // The server's progress notifications carry the bridge's token; the client's is put back.
        call.client_progress_token = *token;
        *token = id;
      }
    }
    if (initialize && !p->initialize_params) p->initialize_params = *params;
  }
  obj["id"] = id;
  p->calls.emplace(id, std::move(call));
  ++s->in_flight;
  ++sink->awaiting;
  write_line(p, json::serialize(message));
  if (initialize) asio::co_spawn(io_, expire_initialize(shared_from_this(), p, id), asio::detached);
}

asio::awaitable<void> route_bridge::expire_initialize(std::shared_ptr<route_bridge> self, process_ptr p,
                                                      std::uint64_t id) {
  // A server that never answers initialize (stuck, or npx still downloading past the
  // limit) must not hold the client: it gets an error and the session ends.
  asio::steady_timer timer(self->io_, self->spec_.start_timeout);
  co_await timer.async_wait(nothrow);
  const auto it = p->calls.find(id);
  if (it == p->calls.end()) co_return;
  pending_call call = std::move(it->second);
  p->calls.erase(it);
  observability::log_throttled(log::stdio(), spdlog::level::warn, "stdio-initialize:" + self->route_,
                               "stdio server did not answer initialize within start_timeout route={}", self->route_);
  if (auto sink = call.sink.lock()) {
    sink->push(rpc_error(call.client_id, -32603, "The MCP server did not answer initialize in time (start_timeout)"));
    sink->answered();
  }
  if (auto owner = call.owner.lock()) {
    if (owner->in_flight > 0) --owner->in_flight;
    self->end_session(owner, "initialize timed out");
  }
}

void route_bridge::forward_notification(const process_ptr& p, const session_ptr& s, json::value message) {
  if (p->state != process_state::running) return;
  const auto method = method_of(message);
  if (method == "notifications/initialized") {
    if (p->initialized_sent) return;  // shared: the process was told once
    p->initialized_sent = true;
  } else if (method == "notifications/cancelled") {
    auto* params = message.as_object().if_contains("params");
    auto* request_id = params && params->is_object() ? params->as_object().if_contains("requestId") : nullptr;
    if (!request_id) return;
    bool found = false;
    for (const auto& [id, call] : p->calls) {
      if (call.owner.lock() == s && call.client_id == *request_id) {
        *request_id = id;
        found = true;
        break;
      }
    }
    if (!found) return;  // answered already, or not this session's
  }
  write_line(p, json::serialize(message));
}

void route_bridge::forward_answer(const process_ptr& p, const session_ptr& s, const json::value& message) {
  const auto it = p->server_requests.find(json::serialize(*member(message, "id")));
  if (it == p->server_requests.end() || it->second.lock() != s) return;  // not asked of this session
  p->server_requests.erase(it);
  if (p->state == process_state::running) write_line(p, json::serialize(message));
}

void route_bridge::write_line(const process_ptr& p, std::string line) {
  line += '\n';
  p->to_write_bytes += line.size();
  p->to_write.push_back(std::move(line));
  if (!p->writing) {
    p->writing = true;
    asio::co_spawn(io_, write_loop(shared_from_this(), p, p->child), asio::detached);
  }
}

asio::awaitable<void> route_bridge::write_loop(std::shared_ptr<route_bridge> self, process_ptr p,
                                               std::shared_ptr<child_process> child) {
  while (!p->to_write.empty() && p->child == child) {
    std::string line = std::move(p->to_write.front());
    p->to_write.pop_front();
    p->to_write_bytes -= line.size();
    auto [ec, n] = co_await asio::async_write(child->input(), asio::buffer(line), nothrow);
    if (ec) {
      // The process closed its input or is gone: the supervisor answers what is in flight.
      log::stdio().debug("stdio server input closed route={} pid={}: {}", self->route_, child->pid(), ec.message());
      break;
    }
  }
  p->writing = false;
  if (!p->to_write.empty() && p->child != child && p->state == process_state::running) {
    // Lines queued for the process that replaced this one.
    p->writing = true;
    asio::co_spawn(self->io_, write_loop(self, p, p->child), asio::detached);
  }
}

// ---- messages from the server ---------------------------------------------------------

asio::awaitable<void> route_bridge::read_output(std::shared_ptr<route_bridge> self, process_ptr p,
                                                std::shared_ptr<child_process> child) {
  std::string pending;
  std::vector<char> chunk(64 * 1024);
  bool skipping = false;  // inside a line over the size limit
  for (;;) {
    auto [ec, n] = co_await child->output().async_read_some(asio::buffer(chunk), nothrow);
    if (ec) break;
    std::size_t start = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (chunk[i] != '\n') continue;
      if (!skipping) {
        pending.append(chunk.data() + start, i - start);
        if (!pending.empty() && pending.back() == '\r') pending.pop_back();
        if (!pending.empty() && p->child == child) {
          error_code jec;
          json::value message = json::parse(pending, jec);
          if (jec) {
            if (auto held = observability::warnings().admit("stdio-stdout:" + self->route_)) {
              log::stdio().warn("stdio server wrote a line that is not JSON-RPC route={} pid={}: {:.200}{}", self->route_,
                                child->pid(), pending, observability::held_back(*held));
            }
          } else {
            self->on_server_message(p, std::move(message));
          }
        }
      }
      pending.clear();
      skipping = false;
      start = i + 1;
    }
    if (!skipping) pending.append(chunk.data() + start, n - start);
    if (pending.size() > self->spec_.max_message_bytes) {
      observability::log_throttled(log::stdio(), spdlog::level::warn, "stdio-oversize:" + self->route_,
                                   "stdio server message over max_message_bytes ({}) dropped route={} pid={}",
                                   self->spec_.max_message_bytes, self->route_, child->pid());
      pending.clear();
      pending.shrink_to_fit();
      skipping = true;
    }
  }
}

asio::awaitable<void> route_bridge::read_errors(std::shared_ptr<route_bridge> self, process_ptr p,
                                                std::shared_ptr<child_process> child) {
  std::string line;
  std::vector<char> chunk(8 * 1024);
  std::uint64_t dropped = 0;
  auto emit = [&] {
    // At most 50 lines per second per process reach the log (a chatty server must not flood it).
    const auto now = steady::now();
    p->stderr_budget = std::min(50.0, p->stderr_budget + std::chrono::duration<double>(now - p->stderr_refill).count() * 50);
    p->stderr_refill = now;
    if (p->stderr_budget < 1) {
      ++dropped;
    } else {
      p->stderr_budget -= 1;
      log::stdio().info("stdio server stderr route={} pid={}: {}{}", self->route_, child->pid(), line,
                        dropped ? " (" + std::to_string(dropped) + " lines dropped)" : std::string());
      dropped = 0;
    }
    line.clear();
  };
  for (;;) {
    auto [ec, n] = co_await child->errors().async_read_some(asio::buffer(chunk), nothrow);
    if (ec) break;
    for (std::size_t i = 0; i < n; ++i) {
      if (chunk[i] == '\n') {
        emit();
      } else if (line.size() < max_stderr_line && chunk[i] != '\r') {
        line += chunk[i];
      }
    }
  }
  if (!line.empty()) emit();
}

void route_bridge::on_server_message(const process_ptr& p, json::value message) {
  if (auto* batch = message.if_array()) {
    for (auto& m : *batch) on_server_message(p, std::move(m));
    return;
  }
  if (!message.is_object()) return;
  const auto method = method_of(message);
  const json::value* id = member(message, "id");
  if (method.empty()) {
    if (id) on_answer(p, std::move(message));
    return;
  }
  auto& obj = message.as_object();
  if (id) {
    // A request of the server's own (sampling, elicitation, roots).
    auto s = session_for_server_request(p);
    if (!s) {
      write_line(p, rpc_error(*id, -32603, "No client is connected to answer this request"));
      return;
    }
    p->server_requests[json::serialize(*id)] = s;
    deliver(s, json::serialize(message), true);
    return;
  }
  auto* params = obj.if_contains("params");
  auto* params_obj = params ? params->if_object() : nullptr;
  if (method == "notifications/progress" && params_obj) {
    if (auto* token = params_obj->if_contains("progressToken"); token && token->is_number()) {
      error_code ec;
      const auto our = token->to_number<std::uint64_t>(ec);
      const auto call = ec ? p->calls.end() : p->calls.find(our);
      if (call == p->calls.end() || !call->second.client_progress_token) return;  // its request ended
      *token = *call->second.client_progress_token;
      auto owner = call->second.owner.lock();
      if (auto sink = call->second.sink.lock(); sink && sink->open()) {
        sink->push(json::serialize(message));
      } else if (owner) {
        deliver(owner, json::serialize(message), false);
      }
      return;
    }
  }
  if (method == "notifications/cancelled" && params_obj) {
    if (auto* request_id = params_obj->if_contains("requestId")) {
      const auto it = p->server_requests.find(json::serialize(*request_id));
      if (it == p->server_requests.end()) return;
      if (auto s = it->second.lock()) deliver(s, json::serialize(message), true);
      p->server_requests.erase(it);
      return;
    }
  }
  // Everything else (list_changed, log messages, resource updates) is for every session.
  const std::string text = json::serialize(message);
  for (const auto& w : p->sessions) {
    if (auto s = w.lock(); s && s->ready) deliver(s, text, false);
  }
}

void route_bridge::on_answer(const process_ptr& p, json::value message) {
  error_code ec;
  const auto* id = member(message, "id");
  const auto our = id->is_number() ? id->to_number<std::uint64_t>(ec) : 0;
  const auto it = ec ? p->calls.end() : p->calls.find(our);
  if (it == p->calls.end()) return;  // an answer to a request that ended (its session is gone)
  pending_call call = std::move(it->second);
  p->calls.erase(it);
  auto owner = call.owner.lock();
  if (owner && owner->in_flight > 0) --owner->in_flight;
  const bool failed = member(message, "error") != nullptr;
  if (call.internal) {
    if (failed) {
      log::stdio().warn("stdio server refused the replayed initialize route={}: {}", route_, json::serialize(message));
    } else if (!p->initialized_sent) {
      p->initialized_sent = true;
      write_line(p, R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    }
    return;
  }
  message.as_object()["id"] = call.client_id;
  if (call.initialize && owner) {
    if (failed) {
      end_session(owner, "its initialize failed");
    } else {
      owner->ready = true;
      if (!p->initialize_result) {
        if (const auto* result = member(message, "result")) p->initialize_result = *result;
      }
    }
  }
  if (auto sink = call.sink.lock()) {
    sink->push(json::serialize(message));
    sink->answered();
  }
  if (owner) owner->last_active = steady::now();
}

session_ptr route_bridge::session_for_server_request(const process_ptr& p) {
  // The session with the most recent request in flight: a server asks the client while it
  // handles that client's call (a tool that samples). Else one with a GET stream.
  for (auto it = p->calls.rbegin(); it != p->calls.rend(); ++it) {
    if (auto s = it->second.owner.lock(); s && !s->ended) return s;
  }
  session_ptr fallback;
  for (const auto& w : p->sessions) {
    auto s = w.lock();
    if (!s || !s->ready) continue;
    if (auto g = s->get_stream.lock(); g && g->open()) return s;
    if (!fallback) fallback = s;
  }
  return fallback;
}

sink_ptr route_bridge::latest_call_stream(const process_ptr& p, const session_ptr& s) {
  for (auto it = p->calls.rbegin(); it != p->calls.rend(); ++it) {
    if (it->second.owner.lock() != s) continue;
    if (auto sink = it->second.sink.lock(); sink && sink->open()) return sink;
  }
  return nullptr;
}

void route_bridge::deliver(const session_ptr& s, std::string text, bool prefer_call_stream) {
  sink_ptr call_stream = latest_call_stream(s->process, s);
  auto get_stream = s->get_stream.lock();
  if (get_stream && !get_stream->open()) get_stream.reset();
  sink_ptr target = prefer_call_stream ? (call_stream ? call_stream : get_stream) : (get_stream ? get_stream : call_stream);
  if (target) {
    target->push(std::move(text));
    return;
  }
  if (s->backlog.size() >= max_backlog_messages) s->backlog.pop_front();
  s->backlog.push_back(std::move(text));
}

// ---- registry -------------------------------------------------------------------------

bridge_registry::bridge_registry() {
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

bridge_registry::~bridge_registry() { stop(); }

std::string bridge_registry::key_of(const config::route& route) {
  return "stdio/" + route.name + "/" + (route.stdio ? route.stdio->identity() : std::string());
}

asio::ip::tcp::socket bridge_registry::open_channel(const config::route& route, const asio::any_io_executor& executor,
                                                    error_code& ec) {
  asio::ip::tcp::socket ours(executor);
  if (!route.stdio) {
    ec = asio::error::invalid_argument;
    return ours;
  }
  std::shared_ptr<route_bridge> bridge;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      ec = asio::error::shut_down;
      return ours;
    }
    auto& slot = bridges_[key_of(route)];
    if (!slot) {
      slot = std::make_shared<route_bridge>(io_, route.name, *route.stdio, processes_);
      asio::post(io_, [b = slot] { b->start_reaper(); });
    }
    bridge = slot;
  }
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    ec = error_code(errno, boost::system::system_category());
    return ours;
  }
  ours.assign(asio::ip::tcp::v4(), fds[0], ec);
  if (ec) {
    ::close(fds[0]);
    ::close(fds[1]);
    return ours;
  }
  asio::post(io_, [bridge, fd = fds[1]] { bridge->serve(fd); });
  return ours;
}

void bridge_registry::retain_only(const config::config& cfg) {
  std::set<std::string> keep;
  for (const auto& r : cfg.routes) {
    if (r.stdio) keep.insert(key_of(r));
  }
  std::lock_guard lock(mutex_);
  for (auto it = bridges_.begin(); it != bridges_.end();) {
    if (keep.count(it->first)) {
      ++it;
      continue;
    }
    asio::post(io_, [b = it->second] { b->retire(); });
    it = bridges_.erase(it);
  }
}

void bridge_registry::stop(std::chrono::milliseconds grace) {
  std::map<std::string, std::shared_ptr<route_bridge>> bridges;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    bridges.swap(bridges_);
  }
  for (const auto& entry : bridges) asio::post(io_, [b = entry.second] { b->retire(); });
  const auto deadline = steady::now() + grace;
  while (processes_.load() > 0 && steady::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (const auto& entry : bridges) asio::post(io_, [b = entry.second] { b->kill_all(); });
  // Let the supervisors see the exits (bounded: SIGKILL cannot be ignored).
  const auto kill_deadline = steady::now() + std::chrono::seconds(2);
  while (processes_.load() > 0 && steady::now() < kill_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace mcpgate::stdio
