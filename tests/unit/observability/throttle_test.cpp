#include "observability/throttle.hpp"

#include <gtest/gtest.h>

namespace mcpgate::observability {
namespace {

using namespace std::chrono_literals;

TEST(LogThrottle, OneLinePerKeyPerIntervalAndTheNextSaysHowManyWereHeld) {
  log_throttle throttle(1s);
  const auto t0 = log_throttle::time_point(1000h);
  EXPECT_EQ(throttle.admit("upstream a", t0), 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(throttle.admit("upstream a", t0 + 10ms * i));
  EXPECT_EQ(throttle.admit("upstream b", t0), 0u);  // another key has its own budget
  EXPECT_EQ(throttle.admit("upstream a", t0 + 1s), 5u);
  EXPECT_FALSE(throttle.admit("upstream a", t0 + 1500ms));
  EXPECT_EQ(throttle.admit("upstream a", t0 + 3s), 1u);
  EXPECT_EQ(held_back(0), "");
  EXPECT_EQ(held_back(5), " (5 similar held back)");
}

}  // namespace
}  // namespace mcpgate::observability
