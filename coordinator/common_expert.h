// The frozen common expert of a run (--common-expert): where it comes
// from, pretraining it on the coordinator (with a cache), or loading a
// saved one.
#pragma once

#include <string>

#include "common/base/status.h"
#include "common/data/dataset.h"
#include "common/learn/model.h"

namespace fedjets::coordinator {

// Where the common expert comes from (--common-expert).
struct CommonExpertSource {
  // Pretrained by the coordinator on the last `examples` training examples
  // for `epochs` epochs ("weak", "strong", "examples:N:epochs:E").
  int64_t examples = 0;
  int epochs = 0;
  // Loaded from a saved model ("file:PATH"), e.g. a FedAvg run's model.pt.
  std::string file;
  bool none() const { return examples == 0 && file.empty(); }
};

// Parses --common-expert: "none", "weak", "strong", "examples:N:epochs:E"
// or "file:PATH".
common::Result<CommonExpertSource> ParseCommonExpert(const std::string& text);

// A model of `spec` with the parameters saved at `path` (torch::save of a
// classifier, as fedjets-coordinator writes model.pt), names and shapes
// checked; an error names the file and what it should hold. Also reads the
// pretraining cache.
common::Result<common::Classifier> LoadCommonExpert(
    const common::ModelSpec& spec, const std::string& path);

// Trains a fresh model on the last `examples` training examples for
// `epochs` epochs (kPretrainingRecipe). With a cache_dir,
// first looks for a model pretrained from the same examples, spec, epochs
// and seed there (common-expert-<sha256>.pt), and saves a new one there.
common::Result<common::Classifier> PretrainCommonExpert(
    const common::ModelSpec& spec, const common::Dataset& train,
    int64_t examples, int epochs, uint64_t seed,
    const std::string& cache_dir = "");

}  // namespace fedjets::coordinator
