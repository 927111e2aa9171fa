#include "client/heartbeat.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace fedjets::client {

common::Result<common::Clock::duration> HeartbeatInterval(
    const proto::Welcome& welcome) {
  const double s = welcome.heartbeat_seconds();
  if (!std::isfinite(s) || s < 0) {
    return common::InvalidArgument(fmt::format(
        "Welcome.heartbeat_seconds is {}; must be finite and >= 0", s));
  }
  if (s == 0) return common::Clock::duration::zero();
  // At most one a tenth of a second, and no overflow from a huge value.
  const double bounded = std::clamp(s, 0.1, 86400.0);
  return std::chrono::duration_cast<common::Clock::duration>(
      std::chrono::duration<double>(bounded));
}

common::Result<common::Clock::duration> SilenceBound(
    const proto::Welcome& welcome) {
  const double s = welcome.silence_seconds();
  if (!std::isfinite(s) || s < 0) {
    return common::InvalidArgument(fmt::format(
        "Welcome.silence_seconds is {}; must be finite and >= 0", s));
  }
  if (s == 0) return common::Clock::duration::zero();
  const double bounded = std::clamp(s, 1.0, 86400.0);
  return std::chrono::duration_cast<common::Clock::duration>(
      std::chrono::duration<double>(bounded));
}

awaitable<common::Status> SendHeartbeat(common::Connection& conn,
                                        const std::string& run_id,
                                        int64_t round,
                                        common::Clock::time_point deadline) {
  proto::Envelope e = common::MakeEnvelope(run_id, round);
  e.mutable_heartbeat();
  co_return co_await conn.Write(e, deadline);
}

}  // namespace fedjets::client
