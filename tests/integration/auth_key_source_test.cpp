// An OAuth issuer's keys as the gateway holds them: discovery, rotation on an unknown kid,
// one fetch for many waiters, and an issuer that goes down. The key source runs on its own
// control thread and is asked from a separate worker thread, as in the gateway.
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "auth/key_source.hpp"
#include "support/https_test_server.hpp"
#include "support/jwt_signer.hpp"
#include "support/wait.hpp"

namespace mcpgate::auth {
namespace {

namespace asio = boost::asio;
using test::https_test_server;
using test::simple_response;
using test::wait_until;
using namespace std::chrono_literals;

// An io_context run by its own thread until destroyed.
class io_thread {
 public:
  io_thread() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~io_thread() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  asio::any_io_executor executor() { return io_.get_executor(); }
  std::thread::id id() const { return thread_.get_id(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

// What the issuer serves; tests change it while the key source runs.
struct issuer_state {
  std::mutex mutex;
  std::string metadata_issuer;  // "" = the real issuer URL
  std::string jwks;
  unsigned jwks_status = 200;
  std::optional<std::shared_future<void>> jwks_gate;  // answer /jwks only once this is ready
};

class KeySource : public ::testing::Test {
 protected:
  KeySource()
      : k1_(test::signing_key::ec_p256("k1")),
        k2_(test::signing_key::ec_p256("k2")),
        server_([this](const https_test_server::request& req) { return answer(req); }) {
    state_.jwks = test::jwks_json({&k1_});
  }
  ~KeySource() override {
    if (source_) source_->stop();
    source_.reset();
  }

  std::string issuer() const { return server_.url("/tenant"); }

  std::shared_ptr<key_source> make_source(std::chrono::seconds min_refresh_gap = 0s) {
    key_source_settings settings;
    settings.issuer = issuer();
    settings.fetch.allowed_ips = {*net::ip_prefix::parse("127.0.0.1/32")};
    settings.fetch.ca_file = server_.ca_file();
    settings.fetch.timeout = 3s;
    settings.min_refresh_gap = min_refresh_gap;
    source_ = std::make_shared<key_source>(control_.executor(), std::move(settings));
    return source_;
  }

  std::shared_ptr<key_source> started_with_keys(std::chrono::seconds min_refresh_gap = 0s) {
    auto source = make_source(min_refresh_gap);
    source->start();
    EXPECT_TRUE(wait_until([&] { return source->keys() != nullptr; })) << source->current_status().last_error;
    return source;
  }

  void set(auto change) {
    std::lock_guard lock(state_.mutex);
    change(state_);
  }

  std::optional<std::string> answer(const https_test_server::request& req) {
    std::unique_lock lock(state_.mutex);
    if (req.target() == "/.well-known/oauth-authorization-server/tenant") {
      const auto named = state_.metadata_issuer.empty() ? issuer() : state_.metadata_issuer;
      return simple_response(200, boost::json::serialize(boost::json::object{{"issuer", named},
                                                                             {"jwks_uri", server_.url("/jwks")}}));
    }
    if (req.target() == "/jwks") {
      if (auto gate = state_.jwks_gate) {
        lock.unlock();
        gate->wait_for(10s);
        lock.lock();
      }
      return simple_response(state_.jwks_status, state_.jwks);
    }
    return simple_response(404, "");
  }

  // The caller of refresh_for_unknown_kid: a coroutine on the worker thread.
  struct refreshed {
    key_source::keys_ptr keys;
    bool stopped = false;
    std::thread::id thread;
  };
  static asio::awaitable<refreshed> ask_for_unknown_kid(std::shared_ptr<key_source> source, std::atomic<int>* asked) {
    if (asked) ++*asked;
    auto result = co_await source->refresh_for_unknown_kid();
    co_return refreshed{std::move(result.keys), result.stopped, std::this_thread::get_id()};
  }
  std::future<refreshed> refresh_from_worker(std::atomic<int>* asked = nullptr) {
    return asio::co_spawn(worker_.executor(), ask_for_unknown_kid(source_, asked), asio::use_future);
  }
  static refreshed get(std::future<refreshed>& f) {
    if (f.wait_for(10s) != std::future_status::ready) throw std::runtime_error("refresh_for_unknown_kid never completed");
    return f.get();
  }
  static std::vector<std::string> kids(const key_source::keys_ptr& keys) {
    std::vector<std::string> out;
    if (keys) {
      for (const auto& k : keys->keys) out.push_back(k.kid);
    }
    return out;
  }

  test::signing_key k1_, k2_;
  issuer_state state_;
  https_test_server server_;
  io_thread control_;
  io_thread worker_;
  std::shared_ptr<key_source> source_;
};

TEST_F(KeySource, DiscoversTheJwksAndLoadsItsKeys) {
  auto source = started_with_keys();
  EXPECT_EQ(kids(source->keys()), std::vector<std::string>{"k1"});
  auto status = source->current_status();
  EXPECT_TRUE(status.last_success.has_value());
  EXPECT_EQ(status.last_error, "");
  EXPECT_EQ(status.key_count, 1u);
  EXPECT_EQ(status.jwks_uri, server_.url("/jwks"));
}

TEST_F(KeySource, FallsBackToOpenIdConfiguration) {
  https_test_server oidc([&](const https_test_server::request& req) -> std::optional<std::string> {
    if (req.target() != "/tenant/.well-known/openid-configuration") return simple_response(404, "");
    return simple_response(200, boost::json::serialize(boost::json::object{{"issuer", oidc.url("/tenant")},
                                                                           {"jwks_uri", server_.url("/jwks")}}));
  });
  key_source_settings settings;
  settings.issuer = oidc.url("/tenant");
  settings.fetch.allowed_ips = {*net::ip_prefix::parse("127.0.0.1/32")};
  settings.fetch.ca_file = test::trust_all({&server_, &oidc});
  source_ = std::make_shared<key_source>(control_.executor(), std::move(settings));
  source_->start();
  ASSERT_TRUE(wait_until([&] { return source_->keys() != nullptr; })) << source_->current_status().last_error;
  EXPECT_EQ(oidc.count("/.well-known/oauth-authorization-server/tenant"), 1u);
  EXPECT_EQ(oidc.count("/tenant/.well-known/openid-configuration"), 1u);
}

TEST_F(KeySource, MetadataNamingAnotherIssuerIsRefused) {
  set([](issuer_state& s) { s.metadata_issuer = "https://attacker.example/tenant"; });
  auto source = make_source();
  source->start();
  ASSERT_TRUE(wait_until([&] { return !source->current_status().last_error.empty(); }));
  EXPECT_NE(source->current_status().last_error.find("names another issuer"), std::string::npos)
      << source->current_status().last_error;
  EXPECT_EQ(source->keys(), nullptr);
  EXPECT_EQ(server_.count("/jwks"), 0u);
}

TEST_F(KeySource, UnknownKidRefreshPicksUpARotatedKey) {
  started_with_keys();
  set([&](issuer_state& s) { s.jwks = test::jwks_json({&k2_}); });
  auto f = refresh_from_worker();
  auto got = get(f);
  EXPECT_EQ(kids(got.keys), std::vector<std::string>{"k2"});
  EXPECT_EQ(kids(source_->keys()), std::vector<std::string>{"k2"});
}

TEST_F(KeySource, UnknownKidCompletesOnTheCallersThread) {
  started_with_keys();
  auto f = refresh_from_worker();
  auto got = get(f);
  EXPECT_EQ(got.thread, worker_.id());
  EXPECT_NE(got.thread, control_.id());
}

TEST_F(KeySource, ConcurrentUnknownKidCallsShareOneFetch) {
  started_with_keys();
  const auto fetched_before = server_.count("/jwks");
  std::promise<void> release;
  set([&](issuer_state& s) {
    s.jwks_gate = release.get_future().share();
    s.jwks = test::jwks_json({&k1_, &k2_});
  });
  std::atomic<int> asked{0};
  auto a = refresh_from_worker(&asked);
  auto b = refresh_from_worker(&asked);
  // Both callers are waiting while the first fetch is held at the issuer.
  ASSERT_TRUE(wait_until([&] { return asked == 2 && server_.count("/jwks") == fetched_before + 1; }));
  release.set_value();
  EXPECT_EQ(kids(get(a).keys), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(kids(get(b).keys), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(server_.count("/jwks"), fetched_before + 1);
}

TEST_F(KeySource, NoFetchWithinTheMinimumGap) {
  started_with_keys(3600s);
  // The gap runs between refreshes unknown kids start; the scheduled fetch does not count.
  set([&](issuer_state& s) { s.jwks = test::jwks_json({&k2_}); });
  auto first = refresh_from_worker();
  EXPECT_EQ(kids(get(first).keys), std::vector<std::string>{"k2"});
  EXPECT_EQ(server_.count("/jwks"), 2u);
  set([&](issuer_state& s) { s.jwks = test::jwks_json({&k1_}); });
  auto second = refresh_from_worker();
  EXPECT_EQ(kids(get(second).keys), std::vector<std::string>{"k2"});
  EXPECT_EQ(server_.count("/jwks"), 2u);
}

TEST_F(KeySource, IssuerDownKeepsTheKeysItHad) {
  started_with_keys();
  set([](issuer_state& s) { s.jwks_status = 503; });
  auto f = refresh_from_worker();
  EXPECT_EQ(kids(get(f).keys), std::vector<std::string>{"k1"});
  EXPECT_EQ(kids(source_->keys()), std::vector<std::string>{"k1"});
  auto status = source_->current_status();
  EXPECT_NE(status.last_error.find("answered 503"), std::string::npos) << status.last_error;
  EXPECT_TRUE(status.last_success.has_value());
  EXPECT_EQ(status.key_count, 1u);
}

TEST_F(KeySource, RetriesAfterAFailedFirstFetch) {
  set([](issuer_state& s) { s.jwks_status = 503; });
  auto source = make_source();
  source->start();
  ASSERT_TRUE(wait_until([&] { return !source->current_status().last_error.empty(); }));
  EXPECT_EQ(source->keys(), nullptr);
  set([](issuer_state& s) { s.jwks_status = 200; });
  // The first retry comes a second later.
  ASSERT_TRUE(wait_until([&] { return source->keys() != nullptr; }, 5s));
  EXPECT_EQ(source->current_status().last_error, "");
}

TEST_F(KeySource, StopIsIdempotentAndEndsTheRefreshes) {
  auto source = started_with_keys();
  source->stop();
  source->stop();
  // After stop an unknown kid is told so at once, without a fetch.
  auto f = refresh_from_worker();
  const auto got = get(f);
  EXPECT_TRUE(got.stopped);
  EXPECT_EQ(got.keys, nullptr);
  EXPECT_EQ(server_.count("/jwks"), 1u);
}

TEST_F(KeySource, StopResumesWaitersWithoutWaitingForTheFetch) {
  started_with_keys();
  std::promise<void> release;
  set([&](issuer_state& s) { s.jwks_gate = release.get_future().share(); });
  std::atomic<int> asked{0};
  auto a = refresh_from_worker(&asked);
  auto b = refresh_from_worker(&asked);
  ASSERT_TRUE(wait_until([&] { return asked == 2 && server_.count("/jwks") == 2u; }));
  source_->stop();
  // The issuer still holds the fetch: the waiters are resumed by stop() itself, on their
  // own thread, with no keys to misuse.
  for (auto* f : {&a, &b}) {
    ASSERT_EQ(f->wait_for(5s), std::future_status::ready);
    const auto got = f->get();
    EXPECT_TRUE(got.stopped);
    EXPECT_EQ(got.keys, nullptr);
    EXPECT_EQ(got.thread, worker_.id());
  }
  release.set_value();
}

}  // namespace
}  // namespace mcpgate::auth
