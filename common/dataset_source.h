// Where a federation's data comes from: a dataset name (a registered
// loader) plus a path and loader options. Coordinator and clients resolve
// the same DatasetSource with LoadDataset.
#pragma once

#include <map>
#include <string>

#include "common/dataset.h"
#include "common/status.h"

namespace fedjets::common {

struct DatasetSource {
  std::string name = "fashion-mnist";  // loader name, see RegisteredDatasets
  std::string path = "/usr/share/datasets/fashion-mnist";  // file or dir
  std::map<std::string, std::string> options;  // loader-specific KEY=VALUE
  uint64_t seed = 1;  // for loaders that split train/test themselves
};

// Loads the train and test splits of `source`. Unknown names get an error
// listing the registered ones.
Result<TrainTest> LoadDataset(const DatasetSource& source);

}  // namespace fedjets::common
