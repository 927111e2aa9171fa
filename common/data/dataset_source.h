// Where a federation's data comes from: a dataset name (a registered
// loader, see common/dataset_registry.h) plus a path and loader options.
// Coordinator and clients resolve the same DatasetSource with LoadDataset.
// Functions are thread-safe.
#pragma once

#include <map>
#include <string>

#include "common/base/status.h"
#include "common/data/dataset.h"

namespace fedjets::common {

struct DatasetSource {
  std::string name =
      "fashion-mnist";  // loader name, see RegisteredDatasetNames
  std::string path = "/usr/share/datasets/fashion-mnist";  // file or dir
  std::map<std::string, std::string> options;  // loader-specific KEY=VALUE
  uint64_t seed = 1;  // for loaders that split train/test themselves
};

// Loads the train and test splits of `source` through the registry and
// checks that they are well formed (ValidateDataset) and agree with each
// other. Unknown names get NotFound listing the registered ones; loader
// errors are prefixed with "dataset 'NAME'".
Result<TrainTest> LoadDataset(const DatasetSource& source);

// InvalidArgument, prefixed with `what`, unless `d` keeps the Dataset
// invariants: a positive example_shape, num_classes >= 1 with as many
// class_names, size() * ExampleSize() floats and every label in
// [0, num_classes).
Status ValidateDataset(const Dataset& d, const std::string& what);

// InvalidArgument, prefixed with `what`, unless `a` and `b` have the same
// example_shape, num_classes and class_names.
Status ValidateCompatible(const Dataset& a, const Dataset& b,
                          const std::string& what);

}  // namespace fedjets::common
