#include "common/data/dataset_source.h"

#include <fmt/format.h>

#include "common/data/dataset_registry.h"

namespace fedjets::common {

Status ValidateDataset(const Dataset& d, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument(fmt::format("{}: {}", what, why));
  };
  if (d.ExampleSize() <= 0)
    return bad("example_shape is empty or not positive");
  for (int64_t dim : d.example_shape) {
    if (dim <= 0) return bad("example_shape has a dimension <= 0");
  }
  if (d.num_classes < 1) return bad("num_classes must be >= 1");
  if (static_cast<int64_t>(d.class_names.size()) != d.num_classes) {
    return bad(fmt::format("{} class names for {} classes",
                           d.class_names.size(), d.num_classes));
  }
  if (static_cast<int64_t>(d.features.size()) != d.size() * d.ExampleSize()) {
    return bad(fmt::format("{} floats for {} examples of {} floats",
                           d.features.size(), d.size(), d.ExampleSize()));
  }
  for (int64_t i = 0; i < d.size(); ++i) {
    if (d.labels[i] < 0 || d.labels[i] >= d.num_classes) {
      return bad(fmt::format("label {} of example {} is outside [0, {})",
                             d.labels[i], i, d.num_classes));
    }
  }
  return Status::Ok();
}

Status ValidateCompatible(const Dataset& a, const Dataset& b,
                          const std::string& what) {
  if (a.example_shape != b.example_shape || a.num_classes != b.num_classes ||
      a.class_names != b.class_names) {
    return InvalidArgument(fmt::format(
        "{}: example shape, class count or class names differ from the test "
        "split's",
        what));
  }
  return Status::Ok();
}

Result<TrainTest> LoadDataset(const DatasetSource& source) {
  auto loader = FindDataset(source.name);
  if (!loader.ok()) return loader.status();
  const std::string what = "dataset '" + source.name + "'";
  auto data = loader->load(source);
  if (!data.ok()) return data.status().Annotate(what);
  // Checked here so that a plug-in's mistake is an error, not a crash in
  // training code.
  FEDJETS_RETURN_IF_ERROR(ValidateDataset(data->test, what + " test split"));
  if (data->train.size() > 0 || !data->train.example_shape.empty()) {
    FEDJETS_RETURN_IF_ERROR(
        ValidateDataset(data->train, what + " train split"));
    FEDJETS_RETURN_IF_ERROR(
        ValidateCompatible(data->test, data->train, what + " train split"));
  }
  return data;
}

}  // namespace fedjets::common
