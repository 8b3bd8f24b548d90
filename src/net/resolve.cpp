#include "net/resolve.hpp"

#include <atomic>
#include <memory>

#include <boost/asio/async_result.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mcpgate::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// The resolver and a timer race; the first to finish completes the wait. Cancelling the
// resolver does not stop a getaddrinfo already running, so the loser is not waited for: it
// holds the shared state until it finishes and then finds the wait completed.
// Not a coroutine: g++ 12 mishandles a capturing lambda in a co_await expression.
asio::awaitable<resolved> race_resolver_and_deadline(asio::any_io_executor ex, std::string host, std::uint16_t port,
                                                     std::chrono::steady_clock::time_point deadline) {
  return asio::async_initiate<const asio::use_awaitable_t<>, void(resolved)>(
      [ex, host = std::move(host), port, deadline](auto handler) {
        using handler_type = decltype(handler);
        struct race {
          race(const asio::any_io_executor& e, std::chrono::steady_clock::time_point d, handler_type h)
              : resolver(e), timer(e, d), handler(std::move(h)) {}
          tcp::resolver resolver;
          asio::steady_timer timer;
          handler_type handler;
          std::atomic<bool> done{false};
        };
        auto r = std::make_shared<race>(ex, deadline, std::move(handler));
        r->timer.async_wait([r](error_code) {
          if (r->done.exchange(true)) return;
          r->resolver.cancel();
          resolved out;
          out.error = asio::error::timed_out;
          out.timed_out = true;
          std::move(r->handler)(std::move(out));
        });
        r->resolver.async_resolve(host, std::to_string(port),
                                  [r](error_code rec, const tcp::resolver::results_type& results) {
                                    if (r->done.exchange(true)) return;
                                    r->timer.cancel();
                                    resolved out;
                                    out.error = rec;
                                    for (const auto& entry : results) out.endpoints.push_back(entry.endpoint());
                                    std::move(r->handler)(std::move(out));
                                  });
      },
      asio::use_awaitable);
}

}  // namespace

asio::awaitable<resolved> resolve(std::string host, std::uint16_t port, std::chrono::steady_clock::time_point deadline) {
  error_code ec;
  const auto literal = asio::ip::make_address(host, ec);
  if (!ec) {
    resolved out;
    out.endpoints.emplace_back(literal, port);
    co_return out;
  }
  auto ex = co_await asio::this_coro::executor;
  co_return co_await race_resolver_and_deadline(std::move(ex), std::move(host), port, deadline);
}

}  // namespace mcpgate::net
