#include "common/dataset_source.h"

#include <fmt/format.h>

namespace fedjets::common {

Result<TrainTest> LoadDataset(const DatasetSource& source) {
  if (source.name == "fashion-mnist" || source.name == "mnist" ||
      source.name == "idx") {
    return LoadIdxDir(source.path, source.name);
  }
  return InvalidArgument(fmt::format(
      "unknown dataset '{}': known datasets are fashion-mnist, mnist, idx",
      source.name));
}

}  // namespace fedjets::common
