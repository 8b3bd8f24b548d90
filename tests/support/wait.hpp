// Waiting on a condition with a deadline (never sleeping and hoping).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace mcpgate::test {

// Polls `condition` every 5 ms until it holds (true) or `limit` passes (false).
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace mcpgate::test
