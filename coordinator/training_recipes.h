// The recipes the coordinator trains its own models with, one definition
// each (clients train with the recipe the flags set, sent in every
// RoundTask). Changing one changes the results. kPretrainingRecipe's
// learning rate and batch size are also part of the key under which
// pretrained common experts are cached (its momentum is not: a change to it
// needs a change to that key, coordinator/common_expert.cc).
#pragma once

#include <cstdint>

#include "common/learn/training.h"

namespace fedjets::coordinator {

struct TrainingRecipe {
  int batch_size;
  double learning_rate;
  double momentum;  // SGD's; unused by Adam

  // The options for `epochs` epochs, shuffled by `seed`.
  common::TrainOptions For(int epochs, uint64_t seed) const {
    common::TrainOptions o;
    o.local_epochs = epochs;
    o.batch_size = batch_size;
    o.learning_rate = learning_rate;
    o.momentum = momentum;
    o.seed = seed;
    return o;
  }
};

// Pretraining the common expert (--common-expert weak, strong or
// examples:N:epochs:E), with SGD.
inline constexpr TrainingRecipe kPretrainingRecipe{
    /*batch_size=*/64, /*learning_rate=*/0.05, /*momentum=*/0.9};

// The local and oracle fine-tuning baselines (--baselines), with SGD for
// --finetune-epochs epochs.
inline constexpr TrainingRecipe kFineTuningRecipe{
    /*batch_size=*/32, /*learning_rate=*/0.01, /*momentum=*/0.9};

// The reference gate (TrainReferenceGate), with Adam.
inline constexpr TrainingRecipe kReferenceGateRecipe{
    /*batch_size=*/256, /*learning_rate=*/1e-3, /*momentum=*/0};
inline constexpr int kReferenceGateEpochs = 20;

}  // namespace fedjets::coordinator
