// Combining the clients' parameter lists into one, without LibTorch: the
// sample-weighted mean (FedAvg) and two robust rules that bound what a
// minority of bad updates can do, the coordinate-wise median and the
// coordinate-wise trimmed mean (Yin et al. 2018, "Byzantine-robust
// distributed learning"). Pure functions; thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"
#include "common/net/tensor_codec.h"

namespace fedjets::common {

struct WeightedParameters {
  const ParameterList* params;  // not owned; must outlive the call
  double weight;                // e.g. the client's number of samples
};

// Weighted mean of float32 parameter lists with identical names and
// shapes (checked; the error names the first mismatch). Weights must be
// non-negative with a positive sum. Accumulates in double.
Result<ParameterList> WeightedAverage(
    const std::vector<WeightedParameters>& inputs);

// The weighted mean of float32 parameter lists folded in one at a time as
// they arrive, for a coordinator that must not hold every update: its
// memory is one running sum (16 bytes per value) whatever the number of
// updates. Each value's sum of weight * value is kept in double with a
// compensation term (Knuth's TwoSum), about 100 bits, so the float32
// result does not depend on the order the updates are folded in: runs that
// fold the same updates in different orders agree bit for bit unless a
// sum lies within ~2^-100 of a float32 rounding boundary. It is not
// WeightedAverage's arithmetic (weight / total first, one double), so the
// two may differ in a value's last bit. Thread-compatible.
class StreamingMean {
 public:
  // Folds `update` in with `weight` (>= 0, finite). The first update fixes
  // the names and shapes; a later one that differs is refused (the error
  // names the first mismatch) and leaves the sum as it was.
  Status Add(const ParameterList& update, double weight);
  // Folds `updates` in, in order, bit for bit as Add one by one would, but
  // in one pass over the running sum per four updates: the sum (four times
  // an update's size) is read and written once for four instead of once
  // for each, which is what bounds the speed. All are checked first; on an
  // error none is added.
  Status Add(const std::vector<WeightedParameters>& updates);
  // The weighted mean of everything added; fails if nothing was added or
  // the weights sum to zero.
  Result<ParameterList> Mean() const;
  int count() const { return count_; }

 private:
  ParameterList layout_;  // names, dtypes and shapes; no bytes
  std::vector<std::vector<double>> sum_, compensation_;
  double total_weight_ = 0;
  int count_ = 0;
};

// Coordinate-wise median of float32 parameter lists with identical names
// and shapes: each output value is the median of that value over the
// inputs (with an even count, the mean of the two middle ones). Weights
// are ignored, so an inflated sample count buys no influence. NaN sorts
// above every number, so a minority of NaN never reaches the result.
Result<ParameterList> CoordinateMedian(
    const std::vector<WeightedParameters>& inputs);

// Coordinate-wise trimmed mean: for each value, the n inputs are sorted,
// the k = floor(trim_fraction * n) lowest and k highest are dropped and the
// rest averaged, unweighted. trim_fraction must be in [0, 0.5). When
// trim_fraction > 0 but there are too few inputs for k to reach 1 (n <
// 1 / trim_fraction), this is the coordinate-wise median instead, so that
// a single outlier is never averaged in; with trim_fraction 0 it is the
// unweighted mean. NaN sorts above every number, as in CoordinateMedian.
Result<ParameterList> CoordinateTrimmedMean(
    const std::vector<WeightedParameters>& inputs, double trim_fraction);

// How a coordinator combines the updates of one model (FedAvg's model,
// or the gate or one expert in FedJETs).
enum class AggregationRule { kMean, kMedian, kTrimmedMean };

struct AggregationOptions {
  AggregationRule rule = AggregationRule::kMean;
  double trim_fraction = 0.2;  // kTrimmedMean only
};

// "mean", "median" or "trimmed-mean" (the --aggregation flag); the error
// lists the choices.
Result<AggregationRule> ParseAggregationRule(std::string_view name);

// WeightedAverage, CoordinateMedian or CoordinateTrimmedMean.
Result<ParameterList> Aggregate(const std::vector<WeightedParameters>& inputs,
                                const AggregationOptions& options);

}  // namespace fedjets::common
