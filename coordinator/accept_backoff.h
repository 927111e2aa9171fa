// What keeps a failing accept loop from spinning: AcceptBackoff paces the
// retries after an accept error (e.g. EMFILE, descriptors exhausted) and
// LogThrottle lets at most one line a period through, counting the ones it
// held back. Pure logic over time points the caller passes, so tests drive
// them with a fake clock; thread-compatible.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

namespace fedjets::coordinator {

// Exponential back-off: each consecutive failure doubles the pause, from
// `first` up to `max`; a success starts over at `first`.
class AcceptBackoff {
 public:
  using Duration = std::chrono::milliseconds;

  explicit AcceptBackoff(Duration first = Duration(10),
                         Duration max = Duration(1000))
      : first_(first), max_(max), next_(first) {}

  // The pause before the next accept, after a failed one.
  Duration OnFailure() {
    const Duration pause = next_;
    next_ = std::min(next_ * 2, max_);
    return pause;
  }
  void OnSuccess() { next_ = first_; }

 private:
  Duration first_;
  Duration max_;
  Duration next_;
};

// At most one log line per `period`: Allow() says whether a line may be
// written at `now` and, if so, how many were held back since the last one.
class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration period = std::chrono::seconds(1))
      : period_(period) {}

  // The number of lines suppressed since the last allowed one when a line
  // may be written now, else empty (and this one is counted as suppressed).
  std::optional<int64_t> Allow(Clock::time_point now) {
    if (last_ && now - *last_ < period_) {
      ++suppressed_;
      return std::nullopt;
    }
    last_ = now;
    const int64_t held_back = suppressed_;
    suppressed_ = 0;
    return held_back;
  }

 private:
  Clock::duration period_;
  std::optional<Clock::time_point> last_;
  int64_t suppressed_ = 0;
};

}  // namespace fedjets::coordinator
