// How both strategies fold a round's updates into the global models, as
// --aggregation, --trim-fraction, --clip-norm and --dp-noise-multiplier say
// (docs/OPERATIONS.md, "Robust aggregation"): each client's update delta is
// clipped first, then each model (FedAvg's model; FedJETs' gate and each
// expert) is combined by the rule, then Gaussian noise is added to it.
// With the defaults (mean, no clipping, no noise) this is exactly
// common::WeightedAverage. The arithmetic is torch-free
// (common/learn/aggregate.h, update_bounds.h); one aggregator per round,
// used from the worker thread.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "common/base/status.h"
#include "common/learn/aggregate.h"
#include "coordinator/strategy/strategy.h"

namespace fedjets::coordinator {

// InvalidArgument naming the flag when an aggregation or update-validation
// option is out of range (--aggregation, --trim-fraction, --clip-norm,
// --dp-noise-multiplier, --max-update-samples, --max-update-norm) or
// --streaming-aggregation is asked of a rule that needs every update.
common::Status CheckAggregationOptions(const StrategyOptions& o);

// Whether a strategy must keep what each client was sent
// (ClientUpdate::start): clipping and the update norm bound need the delta.
bool KeepsUpdateStart(const StrategyOptions& o);

// The seed of round `round`'s DP noise: a stream of its own, apart from the
// clients' RoundSeed, derived from the run's --seed.
uint64_t DpNoiseSeed(uint64_t run_seed, int round);

class UpdateAggregator {
 public:
  // `options` must pass CheckAggregationOptions.
  UpdateAggregator(const StrategyOptions& options, int round);

  // With --clip-norm, clips each update's delta (params - start) to it in
  // place; does nothing otherwise.
  common::Status ClipUpdates(std::vector<ClientUpdate>& updates) const;

  // One model's updates combined by the rule, plus the DP noise (standard
  // deviation noise_multiplier * clip_norm / inputs.size()) when it is on.
  // Models are noised in the order Combine is called, from one engine.
  common::Result<common::ParameterList> Combine(
      const std::vector<common::WeightedParameters>& inputs);

 private:
  common::AggregationOptions rule_;
  double clip_norm_;
  double noise_multiplier_;
  std::mt19937_64 noise_rng_;
};

}  // namespace fedjets::coordinator
