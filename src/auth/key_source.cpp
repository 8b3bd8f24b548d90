#include "auth/key_source.hpp"
#include "observability/log.hpp"

#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

namespace mcpgate::auth {

namespace asio = boost::asio;

namespace {

constexpr auto first_retry = std::chrono::seconds(1);
constexpr auto max_retry = std::chrono::seconds(60);

// RFC 8414 section 3: the well-known segment goes between the host and the issuer's path.
std::string rfc8414_url(const std::string& issuer) {
  auto url = boost::urls::parse_absolute_uri(issuer);
  if (!url) return "";
  std::string path(url->encoded_path());
  if (path == "/") path.clear();
  return std::string(url->scheme()) + "://" + std::string(url->encoded_authority()) +
         "/.well-known/oauth-authorization-server" + path;
}

std::string openid_url(std::string issuer) {
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  return issuer + "/.well-known/openid-configuration";
}

}  // namespace

key_source::key_source(asio::any_io_executor control, key_source_settings settings)
    : control_(std::move(control)), settings_(std::move(settings)), timer_(control_) {
  status_.jwks_uri = settings_.jwks_uri;
}

void key_source::start() { asio::co_spawn(control_, refresh_loop(shared_from_this()), asio::detached); }

void key_source::stop() {
  asio::post(control_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->timer_.cancel();
  });
}

asio::awaitable<void> key_source::refresh_once(std::shared_ptr<key_source>) { co_await refresh(); }

asio::awaitable<void> key_source::refresh_loop(std::shared_ptr<key_source>) {
  auto retry = first_retry;
  while (!stopped_) {
    const bool ok = co_await refresh();
    if (stopped_) co_return;
    timer_.expires_after(ok ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(settings_.refresh_interval)
                            : std::chrono::duration_cast<std::chrono::steady_clock::duration>(retry));
    retry = ok ? first_retry : std::min(retry * 2, max_retry);
    auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;  // cancelled by stop(), which the loop condition sees
  }
}

asio::awaitable<std::string> key_source::discover_jwks_uri(std::string& error) {
  // A named array, not a braced list: g++ 12 keeps an initializer_list's array on the stack
  // across the co_await below.
  const std::array<std::string, 2> urls{rfc8414_url(settings_.issuer), openid_url(settings_.issuer)};
  for (const auto& url : urls) {
    auto res = co_await https_get(url, settings_.fetch);
    if (!res.ok()) {
      error = res.error;
      continue;  // the other well-known document may exist
    }
    boost::system::error_code ec;
    auto doc = boost::json::parse(res.body, ec);
    const auto* o = ec ? nullptr : doc.if_object();
    if (!o) {
      error = url + " is not a JSON object";
      co_return "";
    }
    const auto* issuer = o->if_contains("issuer");
    // RFC 8414 3.3: metadata naming another issuer could be an attacker's.
    if (!issuer || !issuer->is_string() || issuer->get_string() != settings_.issuer) {
      error = url + " names another issuer";
      co_return "";
    }
    const auto* jwks = o->if_contains("jwks_uri");
    if (!jwks || !jwks->is_string() || jwks->get_string().subview(0, 8) != "https://") {
      error = url + " has no https jwks_uri";
      co_return "";
    }
    co_return std::string(jwks->get_string());
  }
  co_return "";
}

asio::awaitable<bool> key_source::refresh() {
  if (refreshing_) {
    // Someone else's fetch is running: its result is ours too.
    co_await asio::async_initiate<const asio::use_awaitable_t<>, void(keys_ptr)>(
        [this](auto handler) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          add_waiter([shared](keys_ptr k) { std::move (*shared)(std::move(k)); });
        },
        asio::use_awaitable);
    co_return keys_.load() != nullptr;
  }
  refreshing_ = true;
  std::string error;
  std::string jwks_uri = settings_.jwks_uri;
  if (jwks_uri.empty()) jwks_uri = co_await discover_jwks_uri(error);
  std::optional<jwk_set> fetched;
  if (!jwks_uri.empty()) {
    error.clear();
    auto res = co_await https_get(jwks_uri, settings_.fetch);
    if (!res.ok()) {
      error = res.error;
    } else {
      auto parsed = parse_jwk_set(res.body);
      if (!parsed.set) {
        error = jwks_uri + ": " + parsed.error;
      } else {
        for (const auto& why : parsed.skipped) log::auth().debug("oauth issuer={} jwks key skipped: {}", settings_.issuer, why);
        if (parsed.set->keys.empty()) error = jwks_uri + " holds no key usable for signatures";
        else fetched = std::move(*parsed.set);
      }
    }
  }
  refreshing_ = false;
  if (fetched) {
    const auto count = fetched->keys.size();
    keys_.store(std::make_shared<const jwk_set>(std::move(*fetched)));
    if (!last_logged_error_.empty() || status_.key_count != count || !status_.last_success) {
      log::auth().info("oauth keys loaded issuer={} keys={} jwks_uri={}", settings_.issuer, count, jwks_uri);
    }
    last_logged_error_.clear();
    std::lock_guard lock(status_mutex_);
    status_.last_success = std::chrono::system_clock::now();
    status_.last_error.clear();
    status_.key_count = count;
    status_.jwks_uri = jwks_uri;
  } else {
    // One line per new error, not one per retry of the same outage.
    if (error != last_logged_error_) {
      log::auth().warn("oauth keys not fetched issuer={}: {}{}", settings_.issuer, error,
                       keys_.load() ? " (keeping the keys fetched before)" : " (requests are answered 503 until it works)");
      last_logged_error_ = error;
    }
    std::lock_guard lock(status_mutex_);
    status_.last_error = error;
  }
  auto waiting = std::move(waiters_);
  waiters_.clear();
  const auto current = keys_.load();
  for (auto& w : waiting) w(current);
  co_return fetched.has_value();
}

void key_source::add_waiter(waiter w) { waiters_.push_back(std::move(w)); }

asio::awaitable<key_source::keys_ptr> key_source::refresh_for_unknown_kid() {
  // Named, so the frame owns it. The initiation below captures only `this`: g++ 12 may
  // destroy temporaries of a co_await expression twice (an owning capture would be
  // released twice).
  const auto keep_alive = shared_from_this();
  // The handler resumes the awaiting coroutine; it must run on that coroutine's executor
  // (a worker thread), never on the control thread that completes the fetch.
  auto keys = co_await asio::async_initiate<const asio::use_awaitable_t<>, void(keys_ptr)>(
      [this](auto handler) {
        auto self = shared_from_this();
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto resume = [shared](keys_ptr k) {
          auto ex = asio::get_associated_executor(*shared);
          asio::post(ex, [shared, k = std::move(k)]() mutable { std::move(*shared)(std::move(k)); });
        };
        asio::post(self->control_, [self, resume = std::move(resume)]() mutable {
          // The gap is between refreshes tokens asked for; the scheduled ones do not count
          // (a rotation right after a scheduled fetch is still picked up at once).
          const auto now = std::chrono::steady_clock::now();
          const bool recent = self->last_kid_refresh_ != std::chrono::steady_clock::time_point{} &&
                              now - self->last_kid_refresh_ < self->settings_.min_refresh_gap;
          if (self->stopped_ || (recent && !self->refreshing_)) {
            resume(self->keys_.load());
            return;
          }
          self->add_waiter(std::move(resume));
          if (!self->refreshing_) {
            self->last_kid_refresh_ = now;
            asio::co_spawn(self->control_, self->refresh_once(self), asio::detached);
          }
        });
      },
      asio::use_awaitable);
  co_return keys;
}

key_source::status key_source::current_status() const {
  std::lock_guard lock(status_mutex_);
  return status_;
}

}  // namespace mcpgate::auth
