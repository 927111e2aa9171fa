// Bounding what one client's update can do to the global model, without
// LibTorch: the L2 norm of its delta (the parameters it sent minus those it
// was sent), clipping that delta to a norm, and the Gaussian noise of
// central differential privacy (McMahan et al. 2018, "Learning
// differentially private recurrent language models"). Parameter lists are
// float32 with identical names and shapes (checked; the error names the
// first mismatch). Pure functions; thread-compatible.
#pragma once

#include <random>

#include "common/base/status.h"
#include "common/net/tensor_codec.h"

namespace fedjets::common {

// ||params - start||_2 over every value, accumulated in double.
Result<double> DeltaL2Norm(const ParameterList& params,
                           const ParameterList& start);

// Scales the delta params - start so that its L2 norm is at most
// `max_norm` (> 0): params = start + delta * min(1, max_norm / ||delta||).
// An update within the norm is left bit for bit as it was.
Status ClipDelta(ParameterList& params, const ParameterList& start,
                 double max_norm);

// Adds independent N(0, stddev^2) noise to every float32 value of
// `params`, drawing from `rng` in tensor and element order (so a seeded
// engine reproduces it exactly).
Status AddGaussianNoise(ParameterList& params, double stddev,
                        std::mt19937_64& rng);

}  // namespace fedjets::common
