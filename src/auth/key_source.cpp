#include "auth/key_source.hpp"
#include "observability/log.hpp"

#include <algorithm>
#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
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

// RFC 8414 section 3.1: the well-known segment goes between the host and the issuer's path,
// whose terminating "/" is dropped.
std::string rfc8414_url(const std::string& issuer) {
  auto url = boost::urls::parse_absolute_uri(issuer);
  if (!url) return "";
  std::string path(url->encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  return std::string(url->scheme()) + "://" + std::string(url->encoded_authority()) +
         "/.well-known/oauth-authorization-server" + path;
}

std::string openid_url(std::string issuer) {
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  return issuer + "/.well-known/openid-configuration";
}

// The caller's completion handler as a waiter: it runs on the caller's own executor (a
// worker thread, or the control thread for the periodic refresh), never inline in the fetch
// that completes it, and keeps that executor from running out of work until then. The work
// guard is why every waiter must be called before the workers are joined (stop() does it):
// an uncalled one would keep its worker's run() from returning, and one destroyed after
// the worker's io_context would touch freed memory.
template <class Handler>
std::function<void(key_source::wait_result)> resume_on_own_executor(Handler handler) {
  auto ex = asio::get_associated_executor(handler);
  auto work = std::make_shared<asio::executor_work_guard<decltype(ex)>>(ex);
  auto shared = std::make_shared<Handler>(std::move(handler));
  return [shared, work](key_source::wait_result r) {
    asio::post(work->get_executor(), [shared, work, r = std::move(r)]() mutable {
      work->reset();
      std::move(*shared)(std::move(r));
    });
  };
}

// The names of a set's keys, to tell a rotation from a refetch of the same keys.
std::vector<std::string> kids_of(const jwk_set& set) {
  std::vector<std::string> kids;
  for (const auto& k : set.keys) kids.push_back(k.kid);
  std::sort(kids.begin(), kids.end());
  return kids;
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
    // Not when a fetch in progress ends (up to its timeout, per document): shutdown waits
    // for these exchanges.
    self->wake_waiters();
  });
}

void key_source::wake_waiters() {
  const wait_result result{stopped_ ? nullptr : keys_.load(), stopped_};
  auto waiting = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiting) w(result);
}

asio::awaitable<void> key_source::refresh_once(std::shared_ptr<key_source>) { co_await fetch_keys(); }

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
    auto res = co_await fetch(control_, fetch_request::get(url), settings_.fetch);
    if (!res.ok()) {
      // The other well-known document may exist; if not, both failures are worth reading.
      error += (error.empty() ? "" : "; ") + res.error;
      continue;
    }
    boost::system::error_code ec;
    auto doc = boost::json::parse(res.body, ec);
    const auto* o = ec ? nullptr : doc.if_object();
    error.clear();
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
    // An unknown kid's fetch is running: its result is ours too.
    co_await wait_for_running_fetch();
    co_return last_fetch_ok_;
  }
  refreshing_ = true;
  co_return co_await fetch_keys();
}

asio::awaitable<key_source::wait_result> key_source::wait_for_running_fetch() {
  return asio::async_initiate<const asio::use_awaitable_t<>, void(wait_result)>(
      [this](auto handler) { waiters_.push_back(resume_on_own_executor(std::move(handler))); }, asio::use_awaitable);
}

asio::awaitable<bool> key_source::fetch_keys() {
  std::string error;
  std::string jwks_uri = settings_.jwks_uri;
  if (jwks_uri.empty()) jwks_uri = co_await discover_jwks_uri(error);
  std::optional<jwk_set> fetched;
  if (!jwks_uri.empty()) {
    error.clear();
    auto res = co_await fetch(control_, fetch_request::get(jwks_uri), settings_.fetch);
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
  last_fetch_ok_ = fetched.has_value();
  if (fetched) {
    const auto count = fetched->keys.size();
    const auto previous = keys_.load();
    if (!previous || !last_logged_error_.empty() || kids_of(*previous) != kids_of(*fetched)) {
      log::auth().info("oauth keys loaded issuer={} keys={} jwks_uri={}", settings_.issuer, count, jwks_uri);
    }
    keys_.store(std::make_shared<const jwk_set>(std::move(*fetched)));
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
  wake_waiters();
  co_return fetched.has_value();
}

asio::awaitable<key_source::wait_result> key_source::refresh_for_unknown_kid() {
  // Named, so the frame owns it. The initiation below captures only `this`: g++ 12 may
  // destroy temporaries of a co_await expression twice (an owning capture would be
  // released twice).
  const auto keep_alive = shared_from_this();
  auto result = co_await asio::async_initiate<const asio::use_awaitable_t<>, void(wait_result)>(
      [this](auto handler) {
        auto self = shared_from_this();
        asio::post(control_, [self, resume = resume_on_own_executor(std::move(handler))]() mutable {
          // The gap is between refreshes tokens asked for; the scheduled ones do not count
          // (a rotation right after a scheduled fetch is still picked up at once).
          const auto now = std::chrono::steady_clock::now();
          const bool recent = self->last_kid_refresh_ != std::chrono::steady_clock::time_point{} &&
                              now - self->last_kid_refresh_ < self->settings_.min_refresh_gap;
          if (self->stopped_) {
            resume(wait_result{nullptr, true});
            return;
          }
          if (recent && !self->refreshing_) {
            resume(wait_result{self->keys_.load(), false});
            return;
          }
          self->waiters_.push_back(std::move(resume));
          if (!self->refreshing_) {
            // Set here, not when the coroutine starts: a caller posted in between must wait
            // for this fetch, not take the keys it is replacing.
            self->refreshing_ = true;
            self->last_kid_refresh_ = now;
            asio::co_spawn(self->control_, self->refresh_once(self), asio::detached);
          }
        });
      },
      asio::use_awaitable);
  co_return result;
}

key_source::status key_source::current_status() const {
  std::lock_guard lock(status_mutex_);
  return status_;
}

}  // namespace mcpgate::auth
