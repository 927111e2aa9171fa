#include "coordinator/quorum.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace fedjets::coordinator {

int EffectiveQuorum(const QuorumOptions& q, int sampled) {
  const double share = q.min_update_fraction * sampled;
  // 0.28 × 25 is 7.000000000000001 in doubles: not a reason to need 8.
  const int from_fraction = static_cast<int>(std::ceil(share - 1e-9));
  return std::max(q.min_updates, from_fraction);
}

common::Status ValidateQuorum(const QuorumOptions& q, int clients_per_round) {
  if (q.min_updates < 1) {
    return common::InvalidArgument(
        fmt::format("--min-updates must be >= 1, not {}", q.min_updates));
  }
  if (!(q.min_update_fraction >= 0.0 && q.min_update_fraction <= 1.0)) {
    return common::InvalidArgument(
        fmt::format("--min-update-fraction must be in [0, 1], not {}",
                    q.min_update_fraction));
  }
  if (q.max_failed_rounds < 1) {
    return common::InvalidArgument(fmt::format(
        "--max-failed-rounds must be >= 1, not {}", q.max_failed_rounds));
  }
  if (clients_per_round > 0 && q.min_updates > clients_per_round) {
    return common::InvalidArgument(fmt::format(
        "--min-updates {} is more than --clients-per-round {}: no round "
        "could reach quorum",
        q.min_updates, clients_per_round));
  }
  return common::Status::Ok();
}

}  // namespace fedjets::coordinator
