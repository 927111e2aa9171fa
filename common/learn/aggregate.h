// Federated averaging of parameter lists, without LibTorch.
#pragma once

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

}  // namespace fedjets::common
