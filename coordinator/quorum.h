// Round quorum: how many updates a round needs to be aggregated, and the
// checks on the flags that set it (docs/OPERATIONS.md, "Deadlines and
// quorum"). Pure; torch-free.
#pragma once

#include "common/base/status.h"

namespace fedjets::coordinator {

struct QuorumOptions {
  int min_updates = 1;               // --min-updates: a count
  double min_update_fraction = 0.0;  // --min-update-fraction: of the sampled
  // --max-failed-rounds: consecutive attempts below quorum before the run
  // stops (with a checkpoint).
  int max_failed_rounds = 5;
};

// The updates a round attempt that sampled `sampled` clients needs:
// max(min_updates, ceil(min_update_fraction × sampled)). The product is
// taken as an integer when within 1e-9 of one, so 0.28 × 25 (in doubles
// 7.000000000000001) needs 7.
int EffectiveQuorum(const QuorumOptions& q, int sampled);

// InvalidArgument naming the flag when a value is out of range, or when
// --min-updates exceeds --clients-per-round (> 0), so that no round could
// ever reach quorum.
common::Status ValidateQuorum(const QuorumOptions& q, int clients_per_round);

}  // namespace fedjets::coordinator
