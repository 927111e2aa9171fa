#include "coordinator/strategy/update_aggregator.h"

#include <fmt/format.h>

#include <cmath>

#include "common/learn/update_bounds.h"
#include "coordinator/strategy/round_seed.h"

namespace fedjets::coordinator {
namespace {

common::AggregationRule RuleOf(const StrategyOptions& o) {
  auto rule = common::ParseAggregationRule(o.aggregation);
  return rule.ok() ? *rule : common::AggregationRule::kMean;
}

// InvalidArgument naming `flag` unless `value` is finite and >= 0.
common::Status CheckNonNegative(double value, const char* flag,
                                const char* zero_means) {
  if (value >= 0 && std::isfinite(value)) return common::Status::Ok();
  return common::InvalidArgument(
      fmt::format("{} {} must be >= 0 (0 = {})", flag, value, zero_means));
}

}  // namespace

common::Status CheckAggregationOptions(const StrategyOptions& o) {
  FEDJETS_RETURN_IF_ERROR(common::ParseAggregationRule(o.aggregation).status());
  if (!(o.trim_fraction >= 0 && o.trim_fraction < 0.5)) {
    return common::InvalidArgument(fmt::format(
        "--trim-fraction {} must be in [0, 0.5): the share of updates "
        "dropped at each end of every coordinate",
        o.trim_fraction));
  }
  FEDJETS_RETURN_IF_ERROR(
      CheckNonNegative(o.clip_norm, "--clip-norm", "no clipping"));
  FEDJETS_RETURN_IF_ERROR(CheckNonNegative(
      o.dp_noise_multiplier, "--dp-noise-multiplier", "no noise"));
  if (o.dp_noise_multiplier > 0 && o.clip_norm == 0) {
    return common::InvalidArgument(
        "--dp-noise-multiplier needs --clip-norm: the noise is scaled to the "
        "clipping norm");
  }
  if (o.streaming_aggregation && (o.aggregation != "mean" || o.clip_norm > 0 ||
                                  o.algorithm == "fedjets")) {
    return common::InvalidArgument(
        "--streaming-aggregation needs --algorithm fedavg or fedprox, "
        "--aggregation mean and no --clip-norm: the median, the trimmed mean "
        "and clipping work on every update at once");
  }
  if (o.max_update_samples < 1) {
    return common::InvalidArgument(fmt::format(
        "--max-update-samples {} must be >= 1", o.max_update_samples));
  }
  FEDJETS_RETURN_IF_ERROR(
      CheckNonNegative(o.max_update_norm, "--max-update-norm", "unbounded"));
  return common::Status::Ok();
}

bool KeepsUpdateStart(const StrategyOptions& o) {
  return o.clip_norm > 0 || o.max_update_norm > 0;
}

uint64_t DpNoiseSeed(uint64_t run_seed, int round) {
  return RoundSeed(run_seed, round) ^ 0x9e37'79b9'7f4a'7c15u;
}

UpdateAggregator::UpdateAggregator(const StrategyOptions& options, int round)
    : rule_{RuleOf(options), options.trim_fraction},
      clip_norm_(options.clip_norm),
      noise_multiplier_(options.dp_noise_multiplier),
      noise_rng_(DpNoiseSeed(options.seed, round)) {}

common::Status UpdateAggregator::ClipUpdates(
    std::vector<ClientUpdate>& updates) const {
  if (clip_norm_ <= 0) return common::Status::Ok();
  for (auto& u : updates) {
    if (common::Status st = common::ClipDelta(u.params, u.start, clip_norm_);
        !st.ok()) {
      return st.Annotate(fmt::format("clipping the update of '{}'", u.client));
    }
  }
  return common::Status::Ok();
}

common::Result<common::ParameterList> UpdateAggregator::Combine(
    const std::vector<common::WeightedParameters>& inputs) {
  auto combined = common::Aggregate(inputs, rule_);
  if (!combined.ok() || noise_multiplier_ <= 0) return combined;
  const double stddev =
      noise_multiplier_ * clip_norm_ / static_cast<double>(inputs.size());
  FEDJETS_RETURN_IF_ERROR(
      common::AddGaussianNoise(*combined, stddev, noise_rng_));
  return combined;
}

}  // namespace fedjets::coordinator
