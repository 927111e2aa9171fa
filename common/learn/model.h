// Classifier models (LibTorch) and their conversion to and from the wire.
//
// Every classifier splits into Embed (input -> penultimate features) and
// Head (features -> logits), so a frozen model can serve as the FedJETs
// common expert that only embeds. The family follows the input shape:
// [C, H, W] images get a small CNN, flat [F] features an MLP.
// Modules are not thread-safe; use one per thread.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/net/tensor_codec.h"

namespace fedjets::common {

struct ModelSpec {
  std::string family = "auto";  // "auto", "cnn" or "mlp"
  std::vector<int64_t> input_shape;
  int64_t num_classes = 0;
  int64_t hidden = 128;  // width of the penultimate layer
};

class ClassifierImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor Embed(torch::Tensor x) = 0;  // [B, hidden]
  virtual torch::Tensor Head(torch::Tensor z) = 0;   // [B, classes] logits
  torch::Tensor forward(torch::Tensor x) { return Head(Embed(x)); }
};

class CnnImpl : public ClassifierImpl {
 public:
  CnnImpl(int64_t channels, int64_t height, int64_t width, int64_t hidden,
          int64_t classes);
  torch::Tensor Embed(torch::Tensor x) override;
  torch::Tensor Head(torch::Tensor z) override;

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc_{nullptr}, out_{nullptr};
};

class MlpImpl : public ClassifierImpl {
 public:
  MlpImpl(int64_t features, int64_t hidden, int64_t classes);
  torch::Tensor Embed(torch::Tensor x) override;
  torch::Tensor Head(torch::Tensor z) override;

 private:
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr}, out_{nullptr};
};

using Classifier = std::shared_ptr<ClassifierImpl>;

// "cnn" or "mlp": the family "auto" stands for with this input shape.
std::string ResolveFamily(const ModelSpec& spec);

// Builds the model for the spec, seeded for reproducible initial weights.
Result<Classifier> MakeClassifier(const ModelSpec& spec, uint64_t seed);

// Parameters in named_parameters() order, as float32 wire tensors.
ParameterList ToWire(torch::nn::Module& module);
// Loads parameters; names, dtypes and shapes must match the module exactly
// (the error names the first mismatch). The module is unchanged on error.
Status FromWire(torch::nn::Module& module, const ParameterList& params);

// Copies every parameter of `from` into `to`; names and shapes must match
// (the error names the first mismatch) and `to` is unchanged on error.
Status CopyWeights(torch::nn::Module& from, torch::nn::Module& to);

}  // namespace fedjets::common
