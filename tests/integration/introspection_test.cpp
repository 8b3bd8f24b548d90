// Opaque tokens through the whole gateway: a local HTTPS introspection endpoint (RFC 7662)
// that the gateway asks under the SSRF rules, its answers judged per route, the worker's
// cache, and what never reaches a log (the token, the gateway's client secret).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <future>
#include <map>
#include <sstream>

#include "auth/introspection.hpp"
#include "core/base64.hpp"
#include "observability/logging.hpp"
#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/http_test_client.hpp"
#include "support/https_test_server.hpp"
#include "support/test_pki.hpp"
#include "support/wait.hpp"

namespace mcpgate::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr const char* audience = "https://mcp.test/mcp";
constexpr const char* client_secret = "s3cret:with&odd=chars";

// An authorization server's introspection endpoint: answers by token, counts requests
// and keeps the last one.
struct fake_introspection {
  test_pki pki{{"localhost"}, {"127.0.0.1"}};
  std::mutex mutex;
  std::map<std::string, boost::json::object> answers;  // by token; unknown tokens are inactive
  std::vector<bhttp::request<bhttp::string_body>> seen;
  unsigned status = 200;
  std::optional<std::shared_future<void>> gate;  // answer only once this is ready
  fake_upstream server{https_handler(server_tls_context(pki.server_cert, pki.server_key),
                                     [this](const bhttp::request<bhttp::string_body>& req) { return answer(req); })};

  std::string url() const { return fmt::format("https://127.0.0.1:{}", server.port()); }
  std::size_t requests() {
    std::lock_guard lock(mutex);
    return seen.size();
  }
  bhttp::request<bhttp::string_body> last() {
    std::lock_guard lock(mutex);
    return seen.back();
  }
  void set(const std::string& token, boost::json::object answer) {
    std::lock_guard lock(mutex);
    answers[token] = std::move(answer);
  }
  bhttp::response<bhttp::string_body> answer(const bhttp::request<bhttp::string_body>& req) {
    std::unique_lock lock(mutex);
    seen.push_back(req);
    if (auto held = gate) {
      lock.unlock();
      held->wait_for(10s);
      lock.lock();
    }
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::content_type, "application/json");
    // The token as the gateway form-encoded it; test tokens need no decoding.
    const std::string body = req.body();
    const auto start = body.find("token=");
    const auto token = start == std::string::npos ? "" : body.substr(start + 6, body.find('&', start) - start - 6);
    const auto known = answers.find(token);
    res.body() = boost::json::serialize(known == answers.end() ? boost::json::object{{"active", false}} : known->second);
    return res;
  }
};

std::int64_t in(std::chrono::seconds s) {
  return std::chrono::duration_cast<std::chrono::seconds>((std::chrono::system_clock::now() + s).time_since_epoch()).count();
}

boost::json::object active(boost::json::object extra = {}) {
  boost::json::object a{{"active", true}, {"sub", "alice"}, {"client_id", "claude"}, {"scope", "mcp:tools"},
                        {"exp", in(300s)},   {"token_type", "Bearer"}};
  for (const auto& [k, v] : extra) a[k] = v;
  return a;
}

std::string tools_call(const std::string& tool) {
  return fmt::format(R"({{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{}","arguments":{{}}}}}})", tool);
}

// Everything the gateway logs while a test runs: the process log and the access log, at
// debug (the gateway's own loggers, made first so that the harness does not replace them).
class log_capture {
 public:
  log_capture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)) {
    observability::init_logging(config::log_level::debug);
    loggers_ = {spdlog::default_logger(), spdlog::get("access")};
    for (const auto& l : loggers_) {
      if (l) l->sinks().push_back(sink_);
    }
  }
  ~log_capture() {
    for (const auto& l : loggers_) {
      if (!l) continue;
      auto& sinks = l->sinks();
      sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
    observability::set_log_level(config::log_level::info);
  }
  std::string text() {
    for (const auto& l : loggers_) {
      if (l) l->flush();
    }
    return text_.str();
  }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  std::array<std::shared_ptr<spdlog::logger>, 2> loggers_;
};

struct introspecting_gateway {
  fake_introspection endpoint;
  std::shared_ptr<recorded_requests> seen = std::make_shared<recorded_requests>();
  fake_upstream upstream{echo_handler(seen)};
  std::string dir = make_temp_dir("mcpgate-introspection");
  std::unique_ptr<gateway_harness> gw;

  explicit introspecting_gateway(const std::string& introspection_extra = {}) {
    const auto secret_file = write_file(dir + "/client-secret", std::string(client_secret) + "\n");
    gw = std::make_unique<gateway_harness>(fmt::format(R"(
listeners: [{{ address: "127.0.0.1:0" }}]
log_level: debug
workers: 1  # answers are cached per worker: one, so that counting requests is exact
routes:
  "*":
    - path: /mcp
      upstream: "http://127.0.0.1:{}"
      tools: {{ allow: ["read_*", {{ name: write_file, scope: files:write }}] }}
      auth:
        oauth:
          issuer: "{}"
          audience: "{}"
          scopes: [mcp:tools]
          ca_file: "{}"
          allowed_ips: [127.0.0.1/32]
          introspection: {{ endpoint: "{}/introspect", client_id: "gate way", client_secret_file: "{}"{} }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                                       upstream.port(), endpoint.url(), audience, endpoint.pki.ca_cert,
                                                       endpoint.url(), secret_file, introspection_extra));
  }
  ~introspecting_gateway() { std::filesystem::remove_all(dir); }

  http::response<http::string_body> post(const std::string& body, const std::string& bearer) {
    http_test_client client;
    client.connect("127.0.0.1", gw->port());
    auto req = mcp_post(body, "mcp.test");
    req.target("/mcp");
    req.set(http::field::authorization, "Bearer " + bearer);
    return client.request(req);
  }
};

TEST(Introspection, AnActiveTokenIsAdmittedWithItsScopesAndTheEndpointKnowsWhoAsks) {
  log_capture logs;
  introspecting_gateway g;
  g.endpoint.set("opaque-reader", active());
  g.endpoint.set("opaque-writer", active({{"sub", "bob"}, {"scope", "mcp:tools files:write"}}));
  const auto before = g.seen->size();
  auto res = g.post(tools_call("read_file"), "opaque-reader");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res.body().substr(0, 5), "echo:");
  ASSERT_EQ(g.seen->size(), before + 1);
  EXPECT_EQ(g.seen->at(before).count(http::field::authorization), 0u) << "the token stays at the gateway";

  ASSERT_EQ(g.endpoint.requests(), 1u);
  const auto asked = g.endpoint.last();
  EXPECT_EQ(asked.method(), bhttp::verb::post);
  EXPECT_EQ(asked.target(), "/introspect");
  EXPECT_EQ(asked[bhttp::field::content_type], "application/x-www-form-urlencoded");
  EXPECT_EQ(asked.body(), "token=opaque-reader&token_type_hint=access_token");
  // RFC 7662 2.1 with RFC 6749 2.3.1: id and secret form-encoded, then Basic.
  EXPECT_EQ(asked[bhttp::field::authorization],
            "Basic " + core::base64_encode("gate+way:s3cret%3Awith%26odd%3Dchars"));

  // The scopes the endpoint named decide which tools the caller may use.
  EXPECT_NE(g.post(tools_call("write_file"), "opaque-reader").body().find("Unknown tool"), std::string::npos);
  EXPECT_EQ(g.post(tools_call("write_file"), "opaque-writer").body().substr(0, 5), "echo:");

  g.gw.reset();  // flushes what the gateway had to say
  const auto text = logs.text();
  EXPECT_NE(text.find("route configured"), std::string::npos) << "the capture works:\n" << text;
  for (const auto* secret : {"opaque-reader", "opaque-writer", "s3cret", "czNjcmV0"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " logged:\n" << text;
  }
}

TEST(Introspection, RefusalsFollowTheAnswer) {
  introspecting_gateway g;
  g.endpoint.set("other-audience", active({{"aud", "https://elsewhere.test/mcp"}}));
  g.endpoint.set("other-issuer", active({{"iss", "https://evil.test"}}));
  g.endpoint.set("no-scope", active({{"scope", "profile"}}));
  g.endpoint.set("right-audience", active({{"aud", audience}, {"iss", g.endpoint.url()}}));

  auto res = g.post(tools_call("read_file"), "revoked-token");  // unknown to the endpoint: inactive
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_NE(res[http::field::www_authenticate].find("error=\"invalid_token\", error_description=\"inactive\""),
            std::string::npos)
      << res[http::field::www_authenticate];
  res = g.post(tools_call("read_file"), "other-audience");
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_NE(res[http::field::www_authenticate].find("wrong_audience"), std::string::npos);
  res = g.post(tools_call("read_file"), "other-issuer");
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_NE(res[http::field::www_authenticate].find("wrong_issuer"), std::string::npos);
  res = g.post(tools_call("read_file"), "no-scope");
  EXPECT_EQ(res.result_int(), 403);
  EXPECT_NE(res[http::field::www_authenticate].find("error=\"insufficient_scope\""), std::string::npos);
  EXPECT_EQ(g.post(tools_call("read_file"), "right-audience").result_int(), 200);
}

TEST(Introspection, AnswersAreCachedInactiveOnesToo) {
  introspecting_gateway g;
  g.endpoint.set("cached", active());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g.post(tools_call("read_file"), "cached").result_int(), 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g.post(tools_call("read_file"), "inactive").result_int(), 401);
  EXPECT_EQ(g.endpoint.requests(), 2u) << "one question per token";
  const auto asked = g.endpoint.requests();
  // Revoking at the endpoint does not reach a cached answer (that is what cache: bounds).
  g.endpoint.set("cached", boost::json::object{{"active", false}});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g.post(tools_call("read_file"), "cached").result_int(), 200);
  EXPECT_EQ(g.endpoint.requests(), asked);
}

TEST(Introspection, WithoutACacheEveryRequestAsks) {
  introspecting_gateway g(", cache: 0s");
  g.endpoint.set("t", active());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g.post(tools_call("read_file"), "t").result_int(), 200);
  EXPECT_EQ(g.endpoint.requests(), 3u);
}

TEST(Introspection, AnEndpointThatFailsOrHangsIsA503NeverAnAdmission) {
  introspecting_gateway g(", timeout: 500ms");
  g.endpoint.set("good", active());
  {
    std::lock_guard lock(g.endpoint.mutex);
    g.endpoint.status = 500;
  }
  auto res = g.post(tools_call("read_file"), "good");
  EXPECT_EQ(res.result_int(), 503);
  EXPECT_EQ(res.count(http::field::www_authenticate), 0u);
  {
    std::lock_guard lock(g.endpoint.mutex);
    g.endpoint.status = 401;  // the endpoint does not know the gateway's client
  }
  EXPECT_EQ(g.post(tools_call("read_file"), "good").result_int(), 503);
  std::promise<void> release;
  {
    std::lock_guard lock(g.endpoint.mutex);
    g.endpoint.status = 200;
    g.endpoint.gate = release.get_future().share();
  }
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(g.post(tools_call("read_file"), "good").result_int(), 503);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "the introspection timeout ends the wait";
  release.set_value();
  {
    std::lock_guard lock(g.endpoint.mutex);
    g.endpoint.gate.reset();
  }
  // Failures are not cached: the endpoint back, the token passes.
  EXPECT_EQ(g.post(tools_call("read_file"), "good").result_int(), 200);
}

TEST(Introspection, AnEndpointOnAPrivateAddressIsRefusedWithoutAllowedIps) {
  fake_introspection endpoint;
  endpoint.set("good", active());
  auto seen = std::make_shared<recorded_requests>();
  fake_upstream upstream{echo_handler(seen)};
  const auto dir = make_temp_dir("mcpgate-introspection");
  const auto secret_file = write_file(dir + "/client-secret", "x\n");
  gateway_harness gw(fmt::format(R"(
listeners: [{{ address: "127.0.0.1:0" }}]
routes:
  "*":
    - path: /mcp
      upstream: "http://127.0.0.1:{}"
      auth:
        oauth:
          issuer: "{}"
          audience: "{}"
          ca_file: "{}"
          introspection: {{ endpoint: "{}/introspect", client_id: gw, client_secret_file: "{}" }}
upstream: {{ allowed_ips: [127.0.0.0/8] }}
)",
                                 upstream.port(), endpoint.url(), audience, endpoint.pki.ca_cert, endpoint.url(),
                                 secret_file));
  http_test_client client;
  client.connect("127.0.0.1", gw.port());
  auto req = mcp_post(tools_call("read_file"), "mcp.test");
  req.target("/mcp");
  req.set(http::field::authorization, "Bearer good");
  EXPECT_EQ(client.request(req).result_int(), 503);
  EXPECT_EQ(endpoint.requests(), 0u) << "refused before connecting";
  std::filesystem::remove_all(dir);
}

// The introspector alone, on one io_context standing for a worker.
struct introspector_on_a_worker {
  https_test_server server{[](const https_test_server::request&) -> std::optional<std::string> {
    return simple_response(200, boost::json::serialize(active()));
  }};
  auth::introspector introspector{settings()};

  config::oauth_settings settings() const {
    config::oauth_settings o;
    o.issuer = "https://auth.test";
    o.audience = audience;
    o.ca_file = server.ca_file();
    o.allowed_ips = {*net::ip_prefix::parse("127.0.0.1/32")};
    config::introspection_settings i;
    i.endpoint = server.url("/introspect");
    i.client_id = "gw";
    i.client_secret = "x";
    i.cache = 0s;  // what is shared is the request, not a cached answer
    o.introspection = i;
    return o;
  }
  static asio::awaitable<void> ask(const auth::introspector* introspector, std::string token,
                                   auth::introspection_outcome* out) {
    *out = co_await introspector->introspect(std::move(token));
  }
};

TEST(IntrospectionClient, QuestionsAboutOneTokenOnOneWorkerShareARequest) {
  introspector_on_a_worker w;
  asio::io_context io;
  std::array<auth::introspection_outcome, 3> outcomes;
  // Spawned together: the second finds the first's request open and waits for its answer;
  // the third asks about another token.
  asio::co_spawn(io, introspector_on_a_worker::ask(&w.introspector, "same", &outcomes[0]), asio::detached);
  asio::co_spawn(io, introspector_on_a_worker::ask(&w.introspector, "same", &outcomes[1]), asio::detached);
  asio::co_spawn(io, introspector_on_a_worker::ask(&w.introspector, "other", &outcomes[2]), asio::detached);
  io.run();
  for (const auto& o : outcomes) {
    ASSERT_TRUE(o.response) << o.error;
    EXPECT_TRUE(o.response->active);
    EXPECT_FALSE(o.from_cache);
  }
  EXPECT_EQ(w.server.count("/introspect"), 2u);
  // Later questions ask again: cache 0s.
  asio::co_spawn(io, introspector_on_a_worker::ask(&w.introspector, "same", &outcomes[0]), asio::detached);
  io.restart();
  io.run();
  EXPECT_EQ(w.server.count("/introspect"), 3u);
}

}  // namespace
}  // namespace mcpgate::test
