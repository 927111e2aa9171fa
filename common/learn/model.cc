#include "common/learn/model.h"

#include <fmt/format.h>

#include <cstring>

namespace fedjets::common {

CnnImpl::CnnImpl(int64_t channels, int64_t height, int64_t width,
                 int64_t hidden, int64_t classes) {
  conv1_ = register_module(
      "conv1",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 16, 5).padding(2)));
  conv2_ = register_module(
      "conv2",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 5).padding(2)));
  fc_ = register_module(
      "fc", torch::nn::Linear(32 * (height / 4) * (width / 4), hidden));
  out_ = register_module("out", torch::nn::Linear(hidden, classes));
}

torch::Tensor CnnImpl::Embed(torch::Tensor x) {
  x = torch::max_pool2d(torch::relu(conv1_(x)), /*kernel_size=*/2);
  x = torch::max_pool2d(torch::relu(conv2_(x)), /*kernel_size=*/2);
  return torch::relu(fc_(x.flatten(/*start_dim=*/1)));
}

torch::Tensor CnnImpl::Head(torch::Tensor z) { return out_(z); }

MlpImpl::MlpImpl(int64_t features, int64_t hidden, int64_t classes) {
  fc1_ = register_module("fc1", torch::nn::Linear(features, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, hidden));
  out_ = register_module("out", torch::nn::Linear(hidden, classes));
}

torch::Tensor MlpImpl::Embed(torch::Tensor x) {
  x = torch::relu(fc1_(x.flatten(/*start_dim=*/1)));
  return torch::relu(fc2_(x));
}

torch::Tensor MlpImpl::Head(torch::Tensor z) { return out_(z); }

std::string ResolveFamily(const ModelSpec& spec) {
  if (spec.family != "auto") return spec.family;
  return spec.input_shape.size() == 3 ? "cnn" : "mlp";
}

Result<Classifier> MakeClassifier(const ModelSpec& spec, uint64_t seed) {
  if (spec.num_classes < 2) {
    return InvalidArgument(fmt::format(
        "a classifier needs at least 2 classes, got {}", spec.num_classes));
  }
  if (spec.hidden < 1)
    return InvalidArgument("model hidden width must be >= 1");
  const auto& s = spec.input_shape;
  const std::string family = ResolveFamily(spec);
  torch::manual_seed(seed);
  if (family == "cnn") {
    if (s.size() != 3 || s[1] < 4 || s[2] < 4) {
      return InvalidArgument(fmt::format(
          "the cnn model needs [channels, height, width] inputs of at least "
          "4x4, got {}",
          ShapeString(s)));
    }
    return Classifier(std::make_shared<CnnImpl>(s[0], s[1], s[2], spec.hidden,
                                                spec.num_classes));
  }
  if (family == "mlp") {
    int64_t features = 1;
    for (int64_t d : s) features *= d;
    if (s.empty() || features < 1) {
      return InvalidArgument(
          fmt::format("the mlp model needs a non-empty input shape, got {}",
                      ShapeString(s)));
    }
    return Classifier(
        std::make_shared<MlpImpl>(features, spec.hidden, spec.num_classes));
  }
  return InvalidArgument(fmt::format(
      "unknown model family '{}': use auto, cnn or mlp", spec.family));
}

namespace {

// Names, dtypes and shapes of the module's parameters; bytes only if asked.
ParameterList Describe(torch::nn::Module& module, bool with_bytes) {
  ParameterList out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    torch::Tensor t = item.value().detach().to(torch::kFloat32).contiguous();
    WireTensor w;
    w.name = item.key();
    w.dtype = proto::DTYPE_FLOAT32;
    w.shape = t.sizes().vec();
    if (with_bytes) {
      w.bytes.assign(static_cast<const char*>(t.data_ptr()),
                     t.numel() * sizeof(float));
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace

ParameterList ToWire(torch::nn::Module& module) {
  return Describe(module, /*with_bytes=*/true);
}

Status FromWire(torch::nn::Module& module, const ParameterList& params) {
  auto named = module.named_parameters(/*recurse=*/true);
  FEDJETS_RETURN_IF_ERROR(
      CheckParameterList(Describe(module, /*with_bytes=*/false), params));
  for (const WireTensor& w : params) {
    FEDJETS_RETURN_IF_ERROR(ValidateTensor(w));
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    torch::Tensor dst = named[params[i].name];
    std::memcpy(dst.data_ptr(), params[i].bytes.data(), params[i].bytes.size());
  }
  return Status::Ok();
}

Status CopyWeights(torch::nn::Module& from, torch::nn::Module& to) {
  return FromWire(to, ToWire(from));
}

}  // namespace fedjets::common
