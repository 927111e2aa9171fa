#include "coordinator/common_expert.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <numeric>

#include "common/base/atomic_file.h"
#include "common/learn/training.h"
#include "common/net/tensor_codec.h"
#include "coordinator/training_recipes.h"

namespace fedjets::coordinator {

using common::TensorData;

common::Result<CommonExpertSource> ParseCommonExpert(const std::string& text) {
  CommonExpertSource source;
  if (text == "none") return source;
  // Calibrated on Fashion-MNIST with the MLP: weak ~75%, strong ~86%
  // (docs/RESULTS.md states the measured accuracies).
  if (text == "weak") return CommonExpertSource{3000, 3, ""};
  if (text == "strong") return CommonExpertSource{60000, 5, ""};
  if (text.starts_with("file:")) {
    source.file = text.substr(5);
    if (source.file.empty()) {
      return common::InvalidArgument("--common-expert file: needs a path");
    }
    return source;
  }
  if (text.starts_with("fedavg:")) {
    return common::InvalidArgument(fmt::format(
        "--common-expert '{}': FedAvg warm-up rounds need a federation "
        "before this run; fedjets-sim runs them, or run a FedAvg federation "
        "and pass its model.pt as --common-expert file:PATH",
        text));
  }
  long long examples = 0;
  int epochs = 0;
  if (std::sscanf(text.c_str(), "examples:%lld:epochs:%d", &examples,
                  &epochs) == 2 &&
      examples > 0 && epochs > 0) {
    return CommonExpertSource{examples, epochs, ""};
  }
  return common::InvalidArgument(fmt::format(
      "--common-expert '{}': use none, weak, strong, examples:N:epochs:E or "
      "file:PATH",
      text));
}

common::Result<common::Classifier> LoadCommonExpert(
    const common::ModelSpec& spec, const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    return common::NotFound(fmt::format("{}: no such file", path));
  }
  auto fits = [&](const std::string& why) {
    return common::InvalidArgument(fmt::format(
        "{}: not a saved {} model with {} hidden units for inputs {} and {} "
        "classes ({})",
        path, spec.family, spec.hidden, fmt::join(spec.input_shape, "x"),
        spec.num_classes, why));
  };
  // torch::load replaces tensors whole, shapes included, so a file of
  // another architecture loads silently: load it aside, then copy it in
  // with FromWire, which checks every name and shape.
  auto file = common::MakeClassifier(spec, /*seed=*/0);
  auto model = common::MakeClassifier(spec, /*seed=*/0);
  if (!file.ok()) return file.status();
  if (!model.ok()) return model.status();
  try {
    torch::load(*file, path);
  } catch (const std::exception& e) {
    std::string why = e.what();
    return fits(why.substr(0, why.find('\n')));  // LibTorch adds a backtrace
  }
  if (auto st = common::FromWire(**model, common::ToWire(**file)); !st.ok()) {
    return fits(st.message());
  }
  return *model;
}

namespace {

// Names everything the pretrained weights depend on.
std::string CacheKey(const common::ModelSpec& spec, const common::Dataset& data,
                     int epochs, uint64_t seed) {
  common::WireTensor recipe, x, y;
  recipe.name = fmt::format(
      "{} {} {} {} epochs {} seed {} lr {} batch {}", spec.family,
      fmt::join(spec.input_shape, "x"), spec.num_classes, spec.hidden, epochs,
      seed, kPretrainingRecipe.learning_rate, kPretrainingRecipe.batch_size);
  x.name = "x";
  x.bytes.assign(reinterpret_cast<const char*>(data.features.data()),
                 data.features.size() * sizeof(float));
  y.name = "y";
  y.bytes.assign(reinterpret_cast<const char*>(data.labels.data()),
                 data.labels.size() * sizeof(int64_t));
  return common::ContentHash({recipe, x, y});
}

}  // namespace

common::Result<common::Classifier> PretrainCommonExpert(
    const common::ModelSpec& spec, const common::Dataset& train,
    int64_t examples, int epochs, uint64_t seed, const std::string& cache_dir) {
  auto model = common::MakeClassifier(spec, seed);
  if (!model.ok()) return model.status();
  examples = std::min(examples, train.size());
  std::vector<int64_t> idx(examples);
  std::iota(idx.begin(), idx.end(), train.size() - examples);
  common::Dataset subset = common::Subset(train, idx);
  std::filesystem::path cached;
  if (!cache_dir.empty()) {
    cached = std::filesystem::path(cache_dir) /
             ("common-expert-" + CacheKey(spec, subset, epochs, seed) + ".pt");
    if (std::filesystem::exists(cached)) {
      auto loaded = LoadCommonExpert(spec, cached.string());
      if (loaded.ok()) {
        spdlog::info("common expert loaded from {}", cached.string());
        return loaded;
      }
      spdlog::warn(
          "cannot use the cached common expert ({}); pretraining "
          "again",
          loaded.status().message());
    }
  }
  TensorData data = common::ToTensors(subset);
  const common::TrainOptions o = kPretrainingRecipe.For(epochs, seed);
  auto stats = common::TrainLocal(**model, data, o);
  if (!stats.ok())
    return stats.status().Annotate("pretraining the common expert");
  if (!cached.empty()) {
    // Written atomically: a concurrent run never reads half a file. A cache
    // that cannot be written costs only time.
    std::error_code ec;  // a missing directory fails the write, named there
    std::filesystem::create_directories(cached.parent_path(), ec);
    common::Status st = common::WriteFileAtomicallyWith(
        cached, [&](const std::filesystem::path& temp) {
          torch::save(*model, temp.string());
          return common::Status::Ok();
        });
    if (!st.ok()) {
      spdlog::warn("cannot cache the common expert in {}: {}", cache_dir,
                   st.message());
    }
  }
  return *model;
}

}  // namespace fedjets::coordinator
