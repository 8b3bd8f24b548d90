// Several upstreams per route: new MCP sessions spread over the instances, every request of
// a session reaches the instance that created it (also after a reload and through another
// gateway replica with the same key), forged session ids are refused, and health checks
// and failed dials keep new sessions away from an instance that is down.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/configs.hpp"
#include "support/fake_upstream.hpp"
#include "support/gateway_harness.hpp"
#include "support/http_test_client.hpp"
#include "support/wait.hpp"

namespace mcpgate::test {
namespace {

namespace json = boost::json;

// An MCP-ish upstream instance: a request without Mcp-Session-Id opens a session (the id
// in the response header); one with a known id is answered with the instance's name and
// the id it received; an unknown id gets 404. GET /healthz answers `health`.
struct session_upstream {
  std::string name;
  std::atomic<int> health{200};
  std::atomic<int> requests{0};
  std::mutex mutex;
  std::map<std::string, int> sessions;
  fake_upstream server;

  explicit session_upstream(std::string n)
      : name(std::move(n)), server([this](tcp::socket& socket) { serve(socket); }) {}

  void serve(tcp::socket& socket) {
    boost::beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    while (read_request(socket, buffer, req)) {
      if (req.target() == "/healthz") {
        write_raw(socket, simple_response(static_cast<unsigned>(health.load()), "health\n", "Connection: close\r\n"));
        return;
      }
      ++requests;
      const std::string session(req["mcp-session-id"]);
      std::string extra;
      std::string given = session;
      {
        std::lock_guard lock(mutex);
        if (session.empty()) {
          given = fmt::format("sess-{}-{}", name, sessions.size() + 1);
          sessions[given] = 0;
          extra = "Mcp-Session-Id: " + given + "\r\n";
        } else if (!sessions.count(session)) {
          write_raw(socket, simple_response(404, "unknown session\n"));
          req = {};
          continue;
        }
      }
      const std::string body = json::serialize(json::object{{"instance", name}, {"session", given}});
      if (!write_raw(socket, simple_response(200, body, extra + "Content-Type: application/json\r\n"))) return;
      req = {};
    }
  }
};

std::string two_upstreams_config(std::uint16_t a, std::uint16_t b, const std::string& route_extra = {},
                                  const std::string& extra = {}) {
  return fmt::format(R"(
listeners:
  - {{ address: "127.0.0.1:0", mode: plain }}
routes:
  "*":
    - {{ path: /mcp, upstreams: ["http://127.0.0.1:{}", "http://127.0.0.1:{}"] {} }}
upstream:
  allowed_ips: [127.0.0.0/8]
workers: 2
{}
)",
                     a, b, route_extra, extra);
}

struct answer {
  unsigned status = 0;
  std::string instance;
  std::string upstream_session;  // what the instance received or made
  std::string client_session;    // the Mcp-Session-Id header the client got
};

answer post(std::uint16_t port, const std::string& session = {}) {
  http_test_client client;
  client.connect("127.0.0.1", port);
  auto req = mcp_post(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  if (!session.empty()) req.set("Mcp-Session-Id", session);
  const auto res = client.request(req);
  answer out;
  out.status = res.result_int();
  out.client_session = std::string(res["mcp-session-id"]);
  if (out.status == 200) {
    const auto body = json::parse(res.body());
    out.instance = json::value_to<std::string>(body.at("instance"));
    out.upstream_session = json::value_to<std::string>(body.at("session"));
  }
  return out;
}

TEST(Affinity, NewSessionsSpreadAndEverySessionStaysOnItsInstance) {
  session_upstream a("a"), b("b");
  gateway_harness gw(two_upstreams_config(a.server.port(), b.server.port()));
  std::vector<answer> opened;
  for (int i = 0; i < 4; ++i) opened.push_back(post(gw.port()));
  std::set<std::string> used;
  for (const auto& o : opened) {
    ASSERT_EQ(o.status, 200u);
    used.insert(o.instance);
    EXPECT_EQ(o.client_session.rfind("mg1.", 0), 0u) << o.client_session;  // names its instance
    EXPECT_EQ(o.client_session.find(o.upstream_session), std::string::npos);  // not the raw id
  }
  EXPECT_EQ(used.size(), 2u) << "equally idle instances take turns";
  for (const auto& o : opened) {
    for (int i = 0; i < 3; ++i) {
      const auto again = post(gw.port(), o.client_session);
      ASSERT_EQ(again.status, 200u);
      EXPECT_EQ(again.instance, o.instance);
      EXPECT_EQ(again.upstream_session, o.upstream_session);  // the instance got its own id back
    }
  }
}

TEST(Affinity, SessionIdsTheGatewayDidNotMakeAre404AndReachNoInstance) {
  session_upstream a("a"), b("b");
  gateway_harness gw(two_upstreams_config(a.server.port(), b.server.port()));
  const auto opened = post(gw.port());
  ASSERT_EQ(opened.status, 200u);
  const int before = a.requests.load() + b.requests.load();
  std::string tampered = opened.client_session;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad : {opened.upstream_session, std::string("mg1.bm9wZQ.eA.eA"), tampered}) {
    http_test_client client;
    client.connect("127.0.0.1", gw.port());
    auto req = mcp_post(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
    req.set("Mcp-Session-Id", bad);
    const auto res = client.request(req);
    EXPECT_EQ(res.result_int(), 404) << bad;
    EXPECT_EQ(json::parse(res.body()).at("error").at("data").at("reason"), "session_unknown");
  }
  EXPECT_EQ(a.requests.load() + b.requests.load(), before);
}

TEST(Affinity, SessionsSurviveAReloadAndWorkThroughAnotherReplicaWithTheSameKey) {
  session_upstream a("a"), b("b");
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("mcpgate-affinity-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const auto key_file = (dir / "affinity.key").string();
  std::ofstream(key_file) << "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
  const std::string keyed = "session_affinity: { key_file: " + key_file + " }";
  gateway_harness one(two_upstreams_config(a.server.port(), b.server.port(), {}, keyed));
  gateway_harness two(two_upstreams_config(a.server.port(), b.server.port(), {}, keyed));
  std::vector<answer> opened;
  for (int i = 0; i < 4; ++i) opened.push_back(post(one.port()));
  for (const auto& o : opened) {
    const auto elsewhere = post(two.port(), o.client_session);
    ASSERT_EQ(elsewhere.status, 200u);
    EXPECT_EQ(elsewhere.instance, o.instance);
  }
  // Instances listed the other way round after a reload: sessions still find theirs.
  std::string error;
  ASSERT_TRUE(one.reload(two_upstreams_config(b.server.port(), a.server.port(), {}, keyed), error)) << error;
  for (const auto& o : opened) EXPECT_EQ(post(one.port(), o.client_session).instance, o.instance);

  // A replica with another key cannot read these ids.
  gateway_harness stranger(two_upstreams_config(a.server.port(), b.server.port()));
  EXPECT_EQ(post(stranger.port(), opened[0].client_session).status, 404u);
  std::filesystem::remove_all(dir);
}

TEST(Affinity, AnUnhealthyInstanceGetsNoNewSessionsButKeepsItsOwn) {
  session_upstream a("a"), b("b");
  gateway_harness gw(two_upstreams_config(
      a.server.port(), b.server.port(),
      ", health_check: { path: /healthz, interval: 100ms, timeout: 1s, unhealthy_after: 1, healthy_after: 1 }"));
  answer on_a;
  ASSERT_TRUE(wait_until([&] {
    on_a = post(gw.port());
    return on_a.instance == "a";
  }));
  a.health = 503;
  // Once a check has seen it, every new session lands on b.
  EXPECT_TRUE(wait_until(
      [&] {
        for (int i = 0; i < 4; ++i) {
          if (post(gw.port()).instance != "b") return false;
        }
        return true;
      },
      std::chrono::seconds(5)));
  EXPECT_EQ(post(gw.port(), on_a.client_session).instance, "a");  // its session is still there
  a.health = 200;
  EXPECT_TRUE(wait_until([&] { return post(gw.port()).instance == "a"; }, std::chrono::seconds(5)));
}

TEST(Affinity, AnInstanceThatRefusesConnectionsIsAvoidedAfterOneFailure) {
  session_upstream b("b");
  std::uint16_t dead_port;
  {
    session_upstream gone("gone");
    dead_port = gone.server.port();
  }
  gateway_harness gw(two_upstreams_config(dead_port, b.server.port()));
  int failures = 0;
  for (int i = 0; i < 6; ++i) {
    const auto o = post(gw.port());
    if (o.status == 502) ++failures;
    else EXPECT_EQ(o.instance, "b");
  }
  EXPECT_LE(failures, 1) << "after one failed dial the instance is left alone for a while";
}

}  // namespace
}  // namespace mcpgate::test
