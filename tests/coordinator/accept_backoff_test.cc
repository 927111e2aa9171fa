#include "coordinator/accept_backoff.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

namespace fedjets::coordinator {
namespace {

using std::chrono::milliseconds;

TEST(AcceptBackoffTest, PauseDoublesUpToTheMaximumAndResetsOnSuccess) {
  AcceptBackoff b(milliseconds(10), milliseconds(1000));
  for (int expected : {10, 20, 40, 80, 160, 320, 640, 1000, 1000}) {
    EXPECT_EQ(b.OnFailure(), milliseconds(expected));
  }
  b.OnSuccess();
  EXPECT_EQ(b.OnFailure(), milliseconds(10));
  EXPECT_EQ(b.OnFailure(), milliseconds(20));
}

TEST(AcceptBackoffTest, ASpinningLoopRetriesOnlyAFewTimesInTwoSeconds) {
  AcceptBackoff b;
  milliseconds waited(0);
  int attempts = 0;
  while (waited < milliseconds(2000)) {
    waited += b.OnFailure();
    ++attempts;
  }
  EXPECT_LE(attempts, 9);
}

TEST(LogThrottleTest, OneLineAPeriodWithTheCountOfThoseHeldBack) {
  LogThrottle t(std::chrono::seconds(1));
  const LogThrottle::Clock::time_point t0{};  // a fake clock
  EXPECT_EQ(t.Allow(t0), std::optional<int64_t>(0));
  for (int i = 1; i <= 1000; ++i) {
    EXPECT_EQ(t.Allow(t0 + milliseconds(i * 999 / 1000)), std::nullopt);
  }
  EXPECT_EQ(t.Allow(t0 + milliseconds(1000)), std::optional<int64_t>(1000));
  EXPECT_EQ(t.Allow(t0 + milliseconds(1500)), std::nullopt);
  EXPECT_EQ(t.Allow(t0 + milliseconds(3000)), std::optional<int64_t>(1));
  EXPECT_EQ(t.Allow(t0 + milliseconds(4000)), std::optional<int64_t>(0));
}

}  // namespace
}  // namespace fedjets::coordinator
