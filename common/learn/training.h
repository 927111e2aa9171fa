// Local training and evaluation of a Classifier on in-memory tensors.
// Functions run on the calling thread and use LibTorch's intra-op thread
// pool (set its size with torch::set_num_threads).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>

#include "common/data/dataset.h"
#include "common/learn/model.h"

namespace fedjets::common {

// A dataset as tensors: x [N, ...example_shape] float32, y [N] int64.
struct TensorData {
  torch::Tensor x;
  torch::Tensor y;
  int64_t size() const { return y.defined() ? y.size(0) : 0; }
};

TensorData ToTensors(const Dataset& d);

struct TrainOptions {
  int local_epochs = 1;
  int batch_size = 64;
  double learning_rate = 0.01;
  double momentum = 0.9;
  double prox_mu = 0.0;  // FedProx: mu/2 * ||w - w_start||^2
  uint64_t seed = 1;     // shuffling order
};

struct TrainStats {
  double mean_loss = 0.0;
  int64_t examples_seen = 0;
  double seconds = 0.0;
};

// Validates the options, then calls step(indices) for shuffled mini-batches
// of n examples, o.local_epochs times (shuffling seeded by o.seed); step
// returns the batch's mean loss. The loop every local trainer shares.
Result<TrainStats> RunEpochs(
    int64_t n, const TrainOptions& o,
    const std::function<double(const torch::Tensor&)>& step);

// Trains `model` in place with SGD on `data`.
Result<TrainStats> TrainLocal(ClassifierImpl& model, const TensorData& data,
                              const TrainOptions& options);

struct EvalStats {
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t examples = 0;
};

// f applied to consecutive row batches of x, concatenated, without
// gradients (bounds peak memory on large inputs).
torch::Tensor InBatches(
    const torch::Tensor& x, int64_t batch_size,
    const std::function<torch::Tensor(const torch::Tensor&)>& f);

// Rows a forward pass without gradients takes at once. 256 keeps the CNN's
// largest activation (256 x 32 x 28 x 28 floats, 25 MB) under glibc's
// 32 MiB mmap threshold, so its memory is reused from batch to batch (see
// RetainFreedMemory); with 1,024 rows (100 MB) every batch is mapped
// afresh and its pages faulted in. Scoring 10,000 images with the CNN on 2
// threads, side by side: 1,024 rows took 1.2x as long as 256 with
// RetainFreedMemory and 1.8x without it (docs/PERFORMANCE.md).
inline constexpr int64_t kInferenceBatch = 256;

// Logits for every row of x, in eval mode and without gradients.
torch::Tensor Logits(ClassifierImpl& model, const torch::Tensor& x,
                     int64_t batch_size = kInferenceBatch);

EvalStats Evaluate(ClassifierImpl& model, const TensorData& data,
                   int64_t batch_size = kInferenceBatch);

}  // namespace fedjets::common
