// Seeds derived from the run's --seed, one per round (LibTorch-free, so
// torch-free units such as the update aggregator can use it).
#pragma once

#include <cstdint>

namespace fedjets::coordinator {

// The seed a client's local training in `round` is shuffled with (sent in
// the RoundTask), derived from the run's --seed.
inline uint64_t RoundSeed(uint64_t run_seed, int round) {
  return run_seed * 1000003 + static_cast<uint64_t>(round);
}

}  // namespace fedjets::coordinator
