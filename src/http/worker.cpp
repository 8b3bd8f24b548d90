#include "http/worker.hpp"

#include <vector>

#include "http/proxy_session.hpp"

namespace mcpgate::http {

namespace {
constexpr auto tick_interval = std::chrono::milliseconds(25);
}

void worker::start_tick() { schedule_tick(); }

void worker::schedule_tick() {
  tick_.expires_after(tick_interval);
  tick_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const auto now = std::chrono::steady_clock::now();
    const std::vector<downstream_session*> live(sessions_.begin(), sessions_.end());
    for (auto* s : live) s->on_tick(now);
    // While draining, the tick stops with the last session so that io.run() can return.
    if (!draining_ || !sessions_.empty()) schedule_tick();
  });
}

void worker::start_draining(std::chrono::milliseconds deadline) {
  draining_ = true;
  pool_.close_all();
  // Copy: request_close() may end a session, which erases it from sessions_.
  const std::vector<downstream_session*> live(sessions_.begin(), sessions_.end());
  for (auto* s : live) s->request_close();
  if (sessions_.empty()) {
    tick_.cancel();
    return;
  }
  drain_deadline_.emplace(io_, deadline);
  drain_deadline_->async_wait([this](boost::system::error_code ec) {
    if (!ec) force_close_all();
  });
}

void worker::force_close_all() {
  const std::vector<downstream_session*> live(sessions_.begin(), sessions_.end());
  for (auto* s : live) s->force_close();
  pool_.close_all();
}

void worker::remove_session(downstream_session* s) {
  sessions_.erase(s);
  if (draining_ && sessions_.empty()) {
    if (drain_deadline_) drain_deadline_->cancel();
    tick_.cancel();
    pool_.close_all();
  }
}

}  // namespace mcpgate::http
