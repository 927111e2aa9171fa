// Internals of common/data/federation_split.h shared by its two source
// files: the layout of a federation over a pool of training examples, and
// the class-set helpers the validation clients reuse. Not an interface of
// the data library: use MakeFederationSplit. Pure functions; torch-free.
#pragma once

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "common/base/status.h"
#include "common/data/federation_split.h"

namespace fedjets::common::federation_internal {

using ClassSet = std::vector<int64_t>;  // ascending class ids

// The uniform label mix over `s`.
std::vector<double> Uniform(const ClassSet& s, int64_t num_classes);

// Up to `count` distinct random class sets of `size` that are not in
// `held` (10000 draws at most).
std::vector<ClassSet> DrawUnheldSets(int64_t num_classes, size_t size,
                                     const std::set<ClassSet>& held, int count,
                                     std::mt19937_64& rng);

// The layout of `options` over `labels` (the training examples left after
// any validation cut), with indices into `labels`: MakeFederationSplit
// without the validation options.
Result<FederationSplit> MakeLayout(const std::vector<int64_t>& labels,
                                   int64_t num_classes,
                                   const SplitOptions& options);

}  // namespace fedjets::common::federation_internal
