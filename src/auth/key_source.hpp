// An OAuth issuer's signing keys, fetched off the data path and shared by every worker.
//
// Workers read the current keys with one atomic load per request. Fetches (RFC 8414 /
// OpenID discovery, then the JWKS) run on the control executor: at start, every
// refresh_interval, and when a token names a kid the keys lack (at most once per
// min_refresh_gap, however many such tokens arrive: an attacker sending random kids gets
// one fetch per gap). A failed fetch keeps the keys already held: an issuer that is down
// does not log anyone out.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "auth/fetch.hpp"
#include "auth/jwt.hpp"

namespace mcpgate::auth {

struct key_source_settings {
  std::string issuer;    // https URL, exactly as tokens' iss
  std::string jwks_uri;  // "" = discover from the issuer's metadata
  fetch_rules fetch;
  std::chrono::seconds refresh_interval{3600};
  std::chrono::seconds min_refresh_gap{10};
};

class key_source : public std::enable_shared_from_this<key_source> {
 public:
  using keys_ptr = std::shared_ptr<const jwk_set>;

  key_source(boost::asio::any_io_executor control, key_source_settings settings);

  // First fetch at once, then every refresh_interval (after a failure: again after 1 s,
  // doubling to 60 s). stop() ends that (from any thread; idempotent) and resumes every
  // caller of refresh_for_unknown_kid at once with `stopped`: each is an exchange whose
  // worker is kept running until it is resumed, and the gateway joins its workers only
  // after stopping its key sources.
  void start();
  void stop();

  keys_ptr keys() const { return keys_.load(); }  // null before the first successful fetch

  struct wait_result {
    keys_ptr keys;
    bool stopped = false;  // the source was stopped first (shutdown): keys is not to be used
  };
  // A token named a kid the keys lack: the keys after a refresh (or the current ones when
  // one finished less than min_refresh_gap ago). Completes on the awaiting coroutine's own
  // executor; concurrent callers share one fetch.
  boost::asio::awaitable<wait_result> refresh_for_unknown_kid();

  struct status {
    std::optional<std::chrono::system_clock::time_point> last_success;
    std::string last_error;  // of the latest fetch; "" when it succeeded
    std::size_t key_count = 0;
    std::string jwks_uri;    // configured or discovered
  };
  status current_status() const;
  const key_source_settings& settings() const { return settings_; }

 private:
  using waiter = std::function<void(wait_result)>;
  // `self` keeps this alive while the coroutine runs (a coroutine frame holds only `this`).
  boost::asio::awaitable<void> refresh_loop(std::shared_ptr<key_source> self);
  boost::asio::awaitable<void> refresh_once(std::shared_ptr<key_source> self);
  // Control executor only, as are the functions below. The periodic refresh: a fetch, or
  // a wait for the one an unknown kid started.
  boost::asio::awaitable<bool> refresh();
  // One discovery + JWKS fetch, started with refreshing_ set; clears it and wakes every
  // waiter when done.
  boost::asio::awaitable<bool> fetch_keys();
  boost::asio::awaitable<wait_result> wait_for_running_fetch();
  void wake_waiters();  // with the current keys, or `stopped` once stop() ran
  boost::asio::awaitable<std::string> discover_jwks_uri(std::string& error);

  boost::asio::any_io_executor control_;
  key_source_settings settings_;
  std::atomic<keys_ptr> keys_;
  boost::asio::steady_timer timer_;
  // Control executor only:
  bool refreshing_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point last_kid_refresh_{};  // last refresh an unknown kid started
  bool last_fetch_ok_ = false;
  std::vector<waiter> waiters_;
  std::string last_logged_error_;
  // Read by current_status() from other threads:
  mutable std::mutex status_mutex_;
  status status_;
};

}  // namespace mcpgate::auth
