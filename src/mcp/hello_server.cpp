// The sample MCP server. Status codes and JSON-RPC error codes follow the reference SDK
// server transport (SDK 1.32.2 StreamableHTTPServerTransport), so that whatever a test
// learns about the gateway in front of hello also holds in front of real SDK servers:
//
//   403 -32000  bad Origin, or a non-loopback Host while bound to loopback (DNS rebinding)
//   404         a path other than /mcp
//   405         GET (we offer no standalone stream: the SDK client reads 405 as "none"),
//               and every method other than GET, POST, DELETE
//   406 -32000  POST Accept lacks application/json or text/event-stream (GET: event-stream)
//   413 -32000  body over max_body_bytes
//   415 -32000  POST Content-Type is not application/json
//   400 -32700  body is not JSON;  400 -32600  JSON but not a JSON-RPC 2.0 message, a
//               second initialize on a session, or a batch outside a 2025-03-26 session
//   400 -32000  missing Mcp-Session-Id, or unsupported MCP-Protocol-Version
//   404 -32001  unknown (expired, evicted, deleted) MCP session
//   202         notification or client response accepted, no body
//
// Tool errors follow 2025-11-25 (SEP-1303): an unknown tool is a protocol error (-32602),
// bad arguments are a tool execution error (result with isError: true) the model can read.
#include "mcp/hello_server.hpp"
#include "observability/log.hpp"
#include "observability/throttle.hpp"

#include <openssl/rand.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <list>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace mcpgate::mcp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view latest_protocol_version = "2025-11-25";
constexpr std::array<std::string_view, 3> supported_protocol_versions{"2025-11-25", "2025-06-18",
                                                                      "2025-03-26"};
constexpr std::string_view endpoint_path = "/mcp";
constexpr std::string_view server_name = "mcpgate-hello";
constexpr std::string_view server_version = "0.1.0";
constexpr std::int64_t max_slow_steps = 100;
constexpr std::int64_t max_slow_interval_ms = 10'000;
constexpr std::int64_t default_slow_interval_ms = 100;
constexpr std::uint32_t max_header_bytes = 16 * 1024;

namespace rpc_code {
constexpr int parse_error = -32700;
constexpr int invalid_request = -32600;
constexpr int method_not_found = -32601;
constexpr int invalid_params = -32602;
constexpr int internal_error = -32603;
// Transport-level rejections, as the SDK numbers them.
constexpr int bad_request = -32000;
constexpr int session_not_found = -32001;
}  // namespace rpc_code

using request = http::request<http::string_body>;
using reply = http::response<http::string_body>;

struct connection;

// One `slow` call that is streaming. Something other than its own coroutine may end it:
// notifications/cancelled, DELETE of its MCP session, eviction, or the peer going away.
struct slow_call {
  std::weak_ptr<connection> conn;
  bool cancelled = false;
  bool peer_gone = false;
  bool finished = false;
  void cancel();
};

struct mcp_session {
  std::string protocol_version;
  std::list<std::string>::iterator age_pos;  // in state::session_order
  // Serialized JSON-RPC request id -> the call, so notifications/cancelled can find it.
  std::map<std::string, std::weak_ptr<slow_call>> in_flight;

  void cancel_in_flight() {
    for (auto& [id, weak] : in_flight)
      if (auto call = weak.lock()) call->cancel();
    in_flight.clear();
  }
};

struct slow_request {
  json::value id;
  std::string session_id;
  std::int64_t steps = 0;
  std::int64_t interval_ms = 0;
  std::optional<json::value> progress_token;
};

// What handling one request produced: a complete reply, or a `slow` call to stream.
struct exchange_outcome {
  reply response;
  std::optional<slow_request> slow;
};

}  // namespace

struct hello_server::state {
  state(asio::io_context& io_in, options opts_in)
      : io(io_in), opts(std::move(opts_in)), acceptor(io_in) {}

  asio::io_context& io;
  options opts;
  tcp::acceptor acceptor;
  bool loopback_only = false;  // bound to a loopback address: Host must be a loopback name
  bool stopped = false;
  std::unordered_map<std::string, mcp_session> sessions;
  std::list<std::string> session_order;  // oldest first, for eviction
  std::uint64_t next_connection_id = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<connection>> connections;

  void shutdown();
  void erase_session(std::unordered_map<std::string, mcp_session>::iterator it) {
    it->second.cancel_in_flight();
    session_order.erase(it->second.age_pos);
    sessions.erase(it);
  }
};

namespace {

using server_state = hello_server::state;

struct connection {
  connection(tcp::socket socket, std::shared_ptr<server_state> server_in, std::uint64_t id_in)
      : stream(std::move(socket)),
        timer(stream.get_executor()),
        server(std::move(server_in)),
        id(id_in) {}

  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  asio::steady_timer timer;  // paces the `slow` tool; cancelled to end a stream early
  std::shared_ptr<server_state> server;
  std::uint64_t id;

  void abort() {
    error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
    timer.cancel();
  }
};

void slow_call::cancel() {
  cancelled = true;
  if (auto c = conn.lock()) c->timer.cancel();
}

// ---------------------------------------------------------------------------------------
// Small helpers

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  return to_lower(haystack).find(to_lower(needle)) != std::string::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_supported_version(std::string_view v) {
  return std::find(supported_protocol_versions.begin(), supported_protocol_versions.end(), v) !=
         supported_protocol_versions.end();
}

std::optional<std::string> random_session_id() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return std::nullopt;
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  id.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    id.push_back(hex[b >> 4]);
    id.push_back(hex[b & 0x0f]);
  }
  return id;
}

// host[:port] of an Origin or Host value; the host lowercased, IPv6 kept in brackets.
struct authority {
  std::string host;
  std::string port;
  bool operator==(const authority&) const = default;
};

std::optional<authority> parse_authority(std::string_view s, std::string_view default_port) {
  s = trim(s);
  authority a;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    a.host = to_lower(s.substr(0, close + 1));
    const auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else {
    const auto colon = s.rfind(':');
    if (colon != std::string_view::npos) {
      a.host = to_lower(s.substr(0, colon));
      port = s.substr(colon + 1);
    } else {
      a.host = to_lower(s);
    }
  }
  if (a.host.empty() || a.host.find_first_of("/?#@ ") != std::string::npos) return std::nullopt;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  a.port = port.empty() ? std::string(default_port) : std::string(port);
  return a;
}

bool is_loopback_name(std::string_view host) {
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

// The 2025-11-25 DNS-rebinding rule: an Origin, when present, must be a loopback origin or
// name the host the request was sent to (Host, or X-Forwarded-Host behind the gateway,
// which rewrites Host to the upstream authority).
bool origin_allowed(std::string_view origin, std::string_view host_header,
                    std::string_view forwarded_host) {
  std::string_view default_port;
  if (origin.starts_with("http://")) {
    default_port = "80";
    origin.remove_prefix(7);
  } else if (origin.starts_with("https://")) {
    default_port = "443";
    origin.remove_prefix(8);
  } else {
    return false;  // includes the opaque "null" origin
  }
  if (origin.ends_with('/')) origin.remove_suffix(1);
  const auto o = parse_authority(origin, default_port);
  if (!o) return false;
  if (is_loopback_name(o->host)) return true;
  if (const auto h = parse_authority(host_header, default_port); h && *h == *o) return true;
  while (!forwarded_host.empty()) {
    const auto comma = forwarded_host.find(',');
    const auto item = forwarded_host.substr(0, comma);
    if (const auto f = parse_authority(item, default_port); f && *f == *o) return true;
    if (comma == std::string_view::npos) break;
    forwarded_host.remove_prefix(comma + 1);
  }
  return false;
}

std::string format_number(double v) {
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  if (ec != std::errc{}) return "NaN";
  return std::string(buf.data(), end);
}

std::optional<double> as_number(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

// An integer argument; JSON numbers like 3.0 count, 3.5 does not.
std::optional<std::int64_t> as_integer(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e15)
      return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Replies

json::object rpc_error(int code, std::string_view message, json::value id = nullptr) {
  return {{"jsonrpc", "2.0"}, {"error", {{"code", code}, {"message", message}}}, {"id", std::move(id)}};
}

json::object rpc_result(json::value id, json::value result) {
  return {{"jsonrpc", "2.0"}, {"id", std::move(id)}, {"result", std::move(result)}};
}

reply make_reply(const request& req, http::status status) {
  reply res{status, req.version()};
  res.set(http::field::server, "mcpgate-hello");
  res.keep_alive(req.keep_alive());
  return res;
}

reply json_reply(const request& req, http::status status, const json::value& body) {
  auto res = make_reply(req, status);
  res.set(http::field::content_type, "application/json");
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
}

reply error_reply(const request& req, http::status status, int code, std::string_view message) {
  return json_reply(req, status, rpc_error(code, message));
}

reply empty_reply(const request& req, http::status status) {
  auto res = make_reply(req, status);
  res.prepare_payload();
  return res;
}

reply text_reply(const request& req, http::status status, std::string_view text) {
  auto res = make_reply(req, status);
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::string(text) + "\n";
  res.prepare_payload();
  return res;
}

std::string sse_event(const json::value& message) {
  return "event: message\ndata: " + json::serialize(message) + "\n\n";
}

// ---------------------------------------------------------------------------------------
// MCP

json::array tool_list() {
  return json::array{
      json::object{
          {"name", "echo"},
          {"title", "Echo"},
          {"description", "Returns the given message unchanged."},
          {"inputSchema",
           {{"type", "object"},
            {"properties", {{"message", {{"type", "string"}, {"description", "Text to echo back"}}}}},
            {"required", json::array{"message"}}}},
          {"annotations", {{"readOnlyHint", true}, {"idempotentHint", true}, {"openWorldHint", false}}},
      },
      json::object{
          {"name", "add"},
          {"title", "Add"},
          {"description", "Adds two numbers."},
          {"inputSchema",
           {{"type", "object"},
            {"properties", {{"a", {{"type", "number"}}}, {"b", {{"type", "number"}}}}},
            {"required", json::array{"a", "b"}}}},
          {"outputSchema",
           {{"type", "object"},
            {"properties", {{"sum", {{"type", "number"}}}}},
            {"required", json::array{"sum"}}}},
          {"annotations", {{"readOnlyHint", true}, {"idempotentHint", true}, {"openWorldHint", false}}},
      },
  };
}

json::object slow_tool(std::int64_t default_steps) {
  return {
      {"name", "slow"},
      {"title", "Slow"},
      {"description",
       "Waits `steps` x `interval_ms`, answering on an SSE stream; sends one "
       "notifications/progress per step when the call carries a progressToken."},
      {"inputSchema",
       {{"type", "object"},
        {"properties",
         {{"steps",
           {{"type", "integer"}, {"minimum", 0}, {"maximum", max_slow_steps}, {"default", default_steps}}},
          {"interval_ms",
           {{"type", "integer"},
            {"minimum", 0},
            {"maximum", max_slow_interval_ms},
            {"default", default_slow_interval_ms}}}}}}},
      {"annotations", {{"readOnlyHint", true}, {"openWorldHint", false}}},
  };
}

json::object text_content(std::string_view text, bool is_error = false) {
  json::object result{{"content", json::array{json::object{{"type", "text"}, {"text", text}}}}};
  if (is_error) result["isError"] = true;
  return result;
}

std::int64_t slow_default_steps(const server_state& st) {
  return std::min<std::int64_t>(st.opts.slow_default_steps, max_slow_steps);
}

// tools/call. Returns the JSON-RPC message to answer with, or sets `slow` instead.
json::object call_tool(const server_state& st, const json::value& id, const json::object* params,
                       const std::string& session_id, std::optional<slow_request>& slow) {
  const json::value* name = params ? params->if_contains("name") : nullptr;
  if (name == nullptr || !name->is_string())
    return rpc_error(rpc_code::invalid_params, "Invalid params: tools/call needs a string params.name", id);
  const json::value* args_value = params->if_contains("arguments");
  static const json::object no_args;
  const json::object* args = &no_args;
  if (args_value != nullptr && !args_value->is_null()) {
    if (!args_value->is_object())
      return rpc_error(rpc_code::invalid_params, "Invalid params: arguments must be an object", id);
    args = &args_value->get_object();
  }
  const std::string_view tool = name->get_string();

  if (tool == "echo") {
    const json::value* message = args->if_contains("message");
    if (message == nullptr || !message->is_string())
      return rpc_result(id, text_content("echo: `message` must be a string", true));
    return rpc_result(id, text_content(message->get_string()));
  }

  if (tool == "add") {
    const json::value* a = args->if_contains("a");
    const json::value* b = args->if_contains("b");
    const auto x = as_number(a);
    const auto y = as_number(b);
    if (!x || !y) return rpc_result(id, text_content("add: `a` and `b` must be numbers", true));
    json::value sum;
    std::int64_t isum = 0;
    if (a->is_int64() && b->is_int64() &&
        !__builtin_add_overflow(a->get_int64(), b->get_int64(), &isum)) {
      sum = isum;  // exact, and serialised as 3 rather than 3E0
    } else {
      sum = *x + *y;
    }
    auto result = text_content(sum.is_int64() ? std::to_string(isum) : format_number(sum.get_double()));
    result["structuredContent"] = json::object{{"sum", sum}};
    return rpc_result(id, std::move(result));
  }

  if (tool == "slow") {
    slow_request call;
    call.id = id;
    call.session_id = session_id;
    call.steps = slow_default_steps(st);
    call.interval_ms = default_slow_interval_ms;
    if (const auto* v = args->if_contains("steps"); v && !v->is_null()) {
      const auto n = as_integer(*v);
      if (!n || *n < 0 || *n > max_slow_steps)
        return rpc_result(id, text_content("slow: `steps` must be an integer from 0 to 100", true));
      call.steps = *n;
    }
    if (const auto* v = args->if_contains("interval_ms"); v && !v->is_null()) {
      const auto n = as_integer(*v);
      if (!n || *n < 0 || *n > max_slow_interval_ms)
        return rpc_result(id, text_content("slow: `interval_ms` must be an integer from 0 to 10000", true));
      call.interval_ms = *n;
    }
    if (const auto* meta = params->if_contains("_meta"); meta && meta->is_object()) {
      if (const auto* token = meta->get_object().if_contains("progressToken");
          token && (token->is_string() || token->is_int64() || token->is_uint64()))
        call.progress_token = *token;
    }
    slow = std::move(call);
    return {};
  }

  return rpc_error(rpc_code::invalid_params, "Unknown tool: " + std::string(tool), id);
}

// A request (has an id) inside a valid MCP session.
json::object handle_rpc_request(const server_state& st, std::string_view method, const json::value& id,
                                const json::object* params, const std::string& session_id,
                                std::optional<slow_request>& slow) {
  if (method == "ping") return rpc_result(id, json::object{});
  if (method == "tools/list") {
    auto tools = tool_list();
    tools.push_back(slow_tool(slow_default_steps(st)));
    return rpc_result(id, json::object{{"tools", std::move(tools)}});
  }
  if (method == "tools/call") return call_tool(st, id, params, session_id, slow);
  if (method == "logging/setLevel") return rpc_result(id, json::object{});
  return rpc_error(rpc_code::method_not_found, "Method not found: " + std::string(method), id);
}

// ---------------------------------------------------------------------------------------
// HTTP exchange -> outcome

exchange_outcome handle_initialize(server_state& st, const request& req, const json::value& id,
                                   const json::object* params) {
  const json::value* requested = params ? params->if_contains("protocolVersion") : nullptr;
  if (requested == nullptr || !requested->is_string())
    return {json_reply(req, http::status::ok,
                       rpc_error(rpc_code::invalid_params, "Invalid params: protocolVersion is required", id)),
            std::nullopt};
  const std::string_view version =
      is_supported_version(requested->get_string()) ? std::string_view(requested->get_string())
                                                    : latest_protocol_version;
  auto session_id = random_session_id();
  if (!session_id)
    return {json_reply(req, http::status::internal_server_error,
                       rpc_error(rpc_code::internal_error, "Internal error: no randomness for a session id", id)),
            std::nullopt};

  if (st.opts.max_sessions > 0) {
    while (st.sessions.size() >= st.opts.max_sessions && !st.session_order.empty())
      st.erase_session(st.sessions.find(st.session_order.front()));
  }
  st.session_order.push_back(*session_id);
  auto& session = st.sessions[*session_id];
  session.protocol_version = std::string(version);
  session.age_pos = std::prev(st.session_order.end());

  json::object result{
      {"protocolVersion", version},
      {"capabilities", {{"tools", {{"listChanged", false}}}, {"logging", json::object{}}}},
      {"serverInfo", {{"name", server_name}, {"title", "mcpgate hello"}, {"version", server_version}}},
      {"instructions",
       "Sample MCP server built into mcpgate. Tools: echo (returns a message), add (sums two "
       "numbers), slow (streams progress notifications over SSE, then answers)."},
  };
  auto res = json_reply(req, http::status::ok, rpc_result(id, std::move(result)));
  res.set("Mcp-Session-Id", *session_id);
  return {std::move(res), std::nullopt};
}

// Finds the MCP session named by the request, or the reply that rejects it.
std::variant<std::string, reply> check_session(const server_state& st, const request& req) {
  const auto header = req.find("Mcp-Session-Id");
  if (header == req.end())
    return error_reply(req, http::status::bad_request, rpc_code::bad_request,
                       "Bad Request: Mcp-Session-Id header is required");
  std::string id(header->value());
  if (!st.sessions.contains(id))
    return error_reply(req, http::status::not_found, rpc_code::session_not_found, "Session not found");
  // Missing means 2025-03-26 (spec); present must be one we speak.
  if (const auto v = req.find("MCP-Protocol-Version"); v != req.end() && !is_supported_version(v->value()))
    return error_reply(req, http::status::bad_request, rpc_code::bad_request,
                       "Bad Request: Unsupported protocol version: " + std::string(v->value()));
  return id;
}

void handle_notification(server_state& st, const std::string& session_id, std::string_view method,
                         const json::object* params) {
  if (method != "notifications/cancelled" || params == nullptr) return;
  const json::value* request_id = params->if_contains("requestId");
  if (request_id == nullptr) return;
  const auto session = st.sessions.find(session_id);
  if (session == st.sessions.end()) return;
  const auto call = session->second.in_flight.find(json::serialize(*request_id));
  if (call == session->second.in_flight.end()) return;
  if (auto c = call->second.lock()) c->cancel();
  session->second.in_flight.erase(call);
}

enum class rpc_kind { invalid, request, notification, response };

struct rpc_message {
  rpc_kind type = rpc_kind::invalid;
  std::string_view method;
  const json::value* id = nullptr;
  const json::object* params = nullptr;
};

// Request = method + id, notification = method without id, response = id + result/error.
rpc_message classify(const json::value& value) {
  rpc_message m;
  const json::object* msg = value.if_object();
  if (msg == nullptr) return m;
  const json::value* jsonrpc = msg->if_contains("jsonrpc");
  if (jsonrpc == nullptr || !jsonrpc->is_string() || jsonrpc->get_string() != "2.0") return m;
  const json::value* method = msg->if_contains("method");
  m.id = msg->if_contains("id");
  const bool id_ok = m.id && (m.id->is_string() || m.id->is_int64() || m.id->is_uint64());
  if (method != nullptr) {
    if (!method->is_string() || (m.id && !id_ok)) return m;
    m.method = std::string_view(method->get_string().data(), method->get_string().size());
    if (const json::value* params = msg->if_contains("params")) m.params = params->if_object();
    m.type = m.id ? rpc_kind::request : rpc_kind::notification;
  } else if (m.id && (msg->contains("result") || msg->contains("error"))) {
    m.type = rpc_kind::response;
  }
  return m;
}

// 2025-03-26 allows a batch (array) of messages; later revisions removed batches. `slow`
// cannot stream from inside a batch, so there it answers with a tool error.
exchange_outcome handle_batch(server_state& st, const request& req, const json::array& batch) {
  auto session = check_session(st, req);
  if (auto* rejected = std::get_if<reply>(&session)) return {std::move(*rejected), std::nullopt};
  const std::string& session_id = std::get<std::string>(session);
  if (st.sessions.at(session_id).protocol_version != "2025-03-26")
    return {error_reply(req, http::status::bad_request, rpc_code::invalid_request,
                        "Invalid Request: batches are only allowed in protocol revision 2025-03-26"),
            std::nullopt};
  if (batch.empty())
    return {error_reply(req, http::status::bad_request, rpc_code::invalid_request, "Invalid Request: empty batch"),
            std::nullopt};

  json::array answers;
  for (const auto& element : batch) {
    const auto msg = classify(element);
    switch (msg.type) {
      case rpc_kind::invalid:
        answers.push_back(rpc_error(rpc_code::invalid_request, "Invalid Request"));
        break;
      case rpc_kind::notification:
        handle_notification(st, session_id, msg.method, msg.params);
        break;
      case rpc_kind::response:
        break;
      case rpc_kind::request: {
        if (msg.method == "initialize") {
          answers.push_back(rpc_error(rpc_code::invalid_request,
                                      "Invalid Request: initialize must not be part of a batch", *msg.id));
          break;
        }
        std::optional<slow_request> slow;
        auto answer = handle_rpc_request(st, msg.method, *msg.id, msg.params, session_id, slow);
        if (slow)
          answer = rpc_result(*msg.id, text_content("slow: cannot stream inside a batch; call it on its own", true));
        answers.push_back(std::move(answer));
        break;
      }
    }
  }
  if (answers.empty()) return {empty_reply(req, http::status::accepted), std::nullopt};
  auto res = json_reply(req, http::status::ok, answers);
  res.set("Mcp-Session-Id", session_id);
  return {std::move(res), std::nullopt};
}

exchange_outcome handle_post(server_state& st, const request& req) {
  const auto accept = req[http::field::accept];
  if (!contains_ci(accept, "application/json") || !contains_ci(accept, "text/event-stream"))
    return {error_reply(req, http::status::not_acceptable, rpc_code::bad_request,
                        "Not Acceptable: Client must accept both application/json and text/event-stream"),
            std::nullopt};
  const auto content_type = req[http::field::content_type];
  if (to_lower(trim(content_type.substr(0, content_type.find(';')))) != "application/json")
    return {error_reply(req, http::status::unsupported_media_type, rpc_code::bad_request,
                        "Unsupported Media Type: Content-Type must be application/json"),
            std::nullopt};

  error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec)
    return {error_reply(req, http::status::bad_request, rpc_code::parse_error, "Parse error: Invalid JSON"),
            std::nullopt};
  if (body.is_array()) return handle_batch(st, req, body.get_array());

  const auto msg = classify(body);
  if (msg.type == rpc_kind::invalid)
    return {error_reply(req, http::status::bad_request, rpc_code::invalid_request,
                        "Invalid Request: not a JSON-RPC 2.0 request, notification or response"),
            std::nullopt};
  const bool has_session_header = req.find("Mcp-Session-Id") != req.end();
  if (msg.type == rpc_kind::request && msg.method == "initialize" && !has_session_header)
    return handle_initialize(st, req, *msg.id, msg.params);

  auto session = check_session(st, req);
  if (auto* rejected = std::get_if<reply>(&session)) return {std::move(*rejected), std::nullopt};
  const std::string& session_id = std::get<std::string>(session);

  if (msg.type != rpc_kind::request) {
    if (msg.type == rpc_kind::notification) handle_notification(st, session_id, msg.method, msg.params);
    return {empty_reply(req, http::status::accepted), std::nullopt};
  }
  if (msg.method == "initialize")
    return {json_reply(req, http::status::bad_request,
                       rpc_error(rpc_code::invalid_request, "Invalid Request: Server already initialized", *msg.id)),
            std::nullopt};

  std::optional<slow_request> slow;
  auto answer = handle_rpc_request(st, msg.method, *msg.id, msg.params, session_id, slow);
  if (slow) return {reply{}, std::move(slow)};
  auto res = json_reply(req, http::status::ok, answer);
  res.set("Mcp-Session-Id", session_id);
  return {std::move(res), std::nullopt};
}

exchange_outcome handle_request(server_state& st, const request& req) {
  const std::string_view target = req.target();
  if (target.substr(0, target.find('?')) != endpoint_path)
    return {text_reply(req, http::status::not_found, "Not Found"), std::nullopt};

  if (st.loopback_only) {
    const auto host = req.find(http::field::host);
    if (host != req.end()) {
      const auto h = parse_authority(host->value(), "80");
      if (!h || !is_loopback_name(h->host))
        return {error_reply(req, http::status::forbidden, rpc_code::bad_request,
                            "Forbidden: Host not allowed (server is bound to loopback)"),
                std::nullopt};
    }
  }
  if (const auto origin = req.find(http::field::origin); origin != req.end()) {
    if (!origin_allowed(origin->value(), req[http::field::host], req["X-Forwarded-Host"]))
      return {error_reply(req, http::status::forbidden, rpc_code::bad_request, "Forbidden: Origin not allowed"),
              std::nullopt};
  }

  switch (req.method()) {
    case http::verb::post:
      return handle_post(st, req);
    case http::verb::get: {
      if (!contains_ci(req[http::field::accept], "text/event-stream"))
        return {error_reply(req, http::status::not_acceptable, rpc_code::bad_request,
                            "Not Acceptable: Client must accept text/event-stream"),
                std::nullopt};
      auto session = check_session(st, req);
      if (auto* rejected = std::get_if<reply>(&session)) return {std::move(*rejected), std::nullopt};
      auto res = error_reply(req, http::status::method_not_allowed, rpc_code::bad_request,
                             "Method Not Allowed: this server offers no standalone SSE stream");
      res.set(http::field::allow, "POST, DELETE");
      return {std::move(res), std::nullopt};
    }
    case http::verb::delete_: {
      auto session = check_session(st, req);
      if (auto* rejected = std::get_if<reply>(&session)) return {std::move(*rejected), std::nullopt};
      st.erase_session(st.sessions.find(std::get<std::string>(session)));
      return {empty_reply(req, http::status::ok), std::nullopt};
    }
    default: {
      auto res = error_reply(req, http::status::method_not_allowed, rpc_code::bad_request,
                             "Method Not Allowed");
      res.set(http::field::allow, "GET, POST, DELETE");
      return {std::move(res), std::nullopt};
    }
  }
}

// ---------------------------------------------------------------------------------------
// Connection coroutines

// Notices a peer that goes away while a `slow` stream is idle between events, so the call
// ends now rather than at its next write (up to 10 s later). Waits for readability without
// consuming: a pipelined request stays in the socket for the next read.
asio::awaitable<void> watch_peer(std::shared_ptr<connection> conn, std::shared_ptr<slow_call> call) {
  auto& socket = conn->stream.socket();
  auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, use_tuple);
  if (call->finished) co_return;
  error_code avail_ec;
  const auto available = socket.is_open() ? socket.available(avail_ec) : 0;
  if (ec || avail_ec || available == 0) {
    call->peer_gone = true;
    conn->timer.cancel();
  }
}

asio::awaitable<bool> write_chunk(connection& conn, bool chunked, const std::string& data) {
  conn.stream.expires_after(conn.server->opts.write_timeout);
  if (chunked) {
    auto [ec, n] = co_await asio::async_write(conn.stream, http::make_chunk(asio::buffer(data)), use_tuple);
    co_return !ec;
  }
  auto [ec, n] = co_await asio::async_write(conn.stream, asio::buffer(data), use_tuple);
  co_return !ec;
}

// Answers a `slow` call as an SSE stream. Returns whether the connection can be reused.
asio::awaitable<bool> stream_slow(std::shared_ptr<connection> conn, const request& req, slow_request call) {
  auto& st = *conn->server;
  auto running = std::make_shared<slow_call>();
  running->conn = conn;
  const std::string call_key = json::serialize(call.id);
  if (auto s = st.sessions.find(call.session_id); s != st.sessions.end())
    s->second.in_flight[call_key] = running;

  // HTTP/1.0 has no chunked encoding: the stream then ends with the connection.
  const bool chunked = req.version() >= 11;
  http::response<http::empty_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "mcpgate-hello");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache, no-transform");
  res.set("X-Accel-Buffering", "no");
  res.set("Mcp-Session-Id", call.session_id);
  res.keep_alive(chunked && req.keep_alive());
  if (chunked) res.chunked(true);
  http::response_serializer<http::empty_body> serializer{res};

  bool ok = false;
  {
    conn->stream.expires_after(st.opts.write_timeout);
    auto [ec, n] = co_await http::async_write_header(conn->stream, serializer, use_tuple);
    ok = !ec;
  }
  if (ok) asio::co_spawn(conn->stream.get_executor(), watch_peer(conn, running), asio::detached);

  for (std::int64_t step = 1; ok && step <= call.steps; ++step) {
    conn->timer.expires_after(std::chrono::milliseconds(call.interval_ms));
    co_await conn->timer.async_wait(use_tuple);  // cancelled == ended early; the flags say why
    if (running->cancelled || running->peer_gone || st.stopped) break;
    if (!call.progress_token) continue;
    json::object progress{{"jsonrpc", "2.0"},
                          {"method", "notifications/progress"},
                          {"params",
                           {{"progressToken", *call.progress_token},
                            {"progress", step},
                            {"total", call.steps},
                            {"message", "step " + std::to_string(step) + " of " + std::to_string(call.steps)}}}};
    ok = co_await write_chunk(*conn, chunked, sse_event(progress));
  }
  running->finished = true;
  {
    error_code ignored;
    conn->stream.socket().cancel(ignored);  // ends watch_peer
  }
  if (auto s = st.sessions.find(call.session_id); s != st.sessions.end()) {
    auto& in_flight = s->second.in_flight;
    if (auto it = in_flight.find(call_key); it != in_flight.end() && it->second.lock() == running)
      in_flight.erase(it);
  }
  if (!ok || running->peer_gone || st.stopped) co_return false;

  // A cancelled request gets no response (spec), but its stream still ends cleanly.
  if (!running->cancelled) {
    const auto steps = std::to_string(call.steps);
    json::value done = rpc_result(call.id, text_content("done after " + steps + " steps"));
    if (!co_await write_chunk(*conn, chunked, sse_event(done))) co_return false;
  }
  if (!chunked) co_return false;
  conn->stream.expires_after(st.opts.write_timeout);
  auto [ec, n] = co_await asio::async_write(conn->stream, http::make_chunk_last(), use_tuple);
  co_return !ec && res.keep_alive();
}

asio::awaitable<bool> write_reply(connection& conn, reply& res) {
  conn.stream.expires_after(conn.server->opts.write_timeout);
  auto [ec, n] = co_await http::async_write(conn.stream, res, use_tuple);
  co_return !ec && res.keep_alive();
}

// After an early reply (413) the client may still be sending the body. Closing with unread
// data makes the kernel send RST, which can destroy our reply in the client's receive
// queue; so half-close and read the rest away for a short while first.
asio::awaitable<void> drain_before_close(connection& conn) {
  error_code ec;
  conn.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  conn.stream.expires_after(std::chrono::seconds(2));
  std::array<char, 16 * 1024> sink{};
  for (std::size_t total = 0; total < 16 * 1024 * 1024;) {
    auto [rec, n] = co_await conn.stream.async_read_some(asio::buffer(sink), use_tuple);
    if (rec) break;
    total += n;
  }
}

bool is_http_parse_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

asio::awaitable<void> serve(std::shared_ptr<connection> conn) {
  auto& st = *conn->server;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(max_header_bytes);
    parser.body_limit(st.opts.max_body_bytes);
    conn->stream.expires_after(st.opts.read_timeout);
    auto [ec, n] = co_await http::async_read_header(conn->stream, conn->buffer, parser, use_tuple);
    if (!ec && !parser.is_done()) {
      // curl and others wait for this before sending a body.
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
        auto [wec, wn] = co_await http::async_write(conn->stream, go_on, use_tuple);
        ec = wec;
      }
      if (!ec) {
        conn->stream.expires_after(st.opts.read_timeout);
        auto [rec, rn] = co_await http::async_read(conn->stream, conn->buffer, parser, use_tuple);
        ec = rec;
      }
    }
    if (st.stopped) co_return;
    if (ec) {
      request head;  // what we know of the request, for the error reply
      head.version(11);
      head.keep_alive(false);
      std::optional<reply> res;
      if (ec == http::error::body_limit)
        res = error_reply(head, http::status::payload_too_large, rpc_code::bad_request,
                          "Payload Too Large: body exceeds " + std::to_string(st.opts.max_body_bytes) + " bytes");
      else if (ec == http::error::header_limit)
        res = text_reply(head, http::status::request_header_fields_too_large, "Request Header Fields Too Large");
      else if (is_http_parse_error(ec))
        res = text_reply(head, http::status::bad_request, "Bad Request");
      if (res) {
        co_await write_reply(*conn, *res);
        co_await drain_before_close(*conn);
      }
      co_return;
    }

    request req = parser.release();
    auto outcome = handle_request(st, req);
    bool keep = false;
    if (outcome.slow)
      keep = co_await stream_slow(conn, req, std::move(*outcome.slow));
    else
      keep = co_await write_reply(*conn, outcome.response);
    if (!keep || st.stopped) co_return;
  }
}

asio::awaitable<void> run_connection(std::shared_ptr<connection> conn) {
  try {
    co_await serve(conn);
  } catch (const std::exception& e) {
    observability::log_throttled(log::mcp(), spdlog::level::warn, "hello connection failed",
                                 "hello: connection {} failed: {}", conn->id, e.what());
  }
  error_code ignored;
  conn->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  conn->abort();
  conn->server->connections.erase(conn->id);
}

asio::awaitable<void> accept_loop(std::shared_ptr<server_state> st) {
  asio::steady_timer backoff(st->io);
  while (!st->stopped) {
    auto [ec, socket] = co_await st->acceptor.async_accept(use_tuple);
    if (st->stopped) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // E.g. EMFILE: do not spin; the pending connection is retried shortly.
      observability::log_throttled(log::mcp(), spdlog::level::warn, "hello accept failed", "hello: accept failed: {}",
                                   ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // every SSE event leaves at once
    const auto id = st->next_connection_id++;
    auto conn = std::make_shared<connection>(std::move(socket), st, id);
    st->connections.emplace(id, conn);
    asio::co_spawn(st->io, run_connection(std::move(conn)), asio::detached);
  }
}

}  // namespace

void hello_server::state::shutdown() {
  if (stopped) return;
  stopped = true;
  error_code ignored;
  acceptor.close(ignored);
  // Copy: aborting makes connection coroutines erase themselves, though not synchronously.
  std::vector<std::shared_ptr<connection>> live;
  for (auto& [id, weak] : connections)
    if (auto c = weak.lock()) live.push_back(std::move(c));
  for (auto& c : live) c->abort();
  for (auto& [id, session] : sessions) session.cancel_in_flight();
}

hello_server::hello_server(asio::io_context& io, options opts)
    : io_(io), state_(std::make_shared<state>(io, std::move(opts))) {}

hello_server::~hello_server() { stop(); }

tcp::endpoint hello_server::start() {
  auto& st = *state_;
  tcp::endpoint endpoint;
  error_code ec;
  const auto address = asio::ip::make_address(st.opts.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, st.opts.port);
  } else {
    tcp::resolver resolver(io_);
    const auto results = resolver.resolve(st.opts.host, std::to_string(st.opts.port));  // throws
    endpoint = results.begin()->endpoint();
  }
  st.acceptor.open(endpoint.protocol());
  st.acceptor.set_option(tcp::acceptor::reuse_address(true));
  st.acceptor.bind(endpoint);
  st.acceptor.listen(asio::socket_base::max_listen_connections);
  endpoint_ = st.acceptor.local_endpoint();
  st.loopback_only = endpoint_.address().is_loopback();
  asio::co_spawn(io_, accept_loop(state_), asio::detached);
  return endpoint_;
}

std::size_t hello_server::connection_count() const { return state_->connections.size(); }

void hello_server::stop() {
  asio::dispatch(io_, [st = state_] { st->shutdown(); });
}

}  // namespace mcpgate::mcp
