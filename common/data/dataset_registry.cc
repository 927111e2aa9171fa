#include "common/data/dataset_registry.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <utility>

#include "common/data/csv_dataset.h"
#include "common/data/csv_folder.h"

namespace fedjets::common {
namespace {

bool ValidName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

class Registry {
 public:
  static Registry& Get() {
    static Registry* r = new Registry();  // never destroyed: no exit races
    return *r;
  }

  Status Add(DatasetLoader loader) {
    if (!ValidName(loader.name)) {
      return InvalidArgument(fmt::format(
          "dataset name '{}' is not of the form [a-z0-9._-]+", loader.name));
    }
    if (!loader.load) {
      return InvalidArgument(
          fmt::format("dataset '{}' has no load function", loader.name));
    }
    std::lock_guard lock(mu_);
    const std::string name = loader.name;
    if (!loaders_.emplace(name, std::move(loader)).second) {
      return InvalidArgument(
          fmt::format("dataset '{}' is already registered", name));
    }
    return Status::Ok();
  }

  Result<DatasetLoader> Find(const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = loaders_.find(name);
    if (it != loaders_.end()) return it->second;
    std::string known;
    for (const auto& [n, l] : loaders_)
      known += (known.empty() ? "" : ", ") + n;
    return NotFound(
        fmt::format("unknown dataset '{}': registered datasets "
                    "are {}",
                    name, known));
  }

  std::vector<DatasetLoader> All() {
    std::lock_guard lock(mu_);
    std::vector<DatasetLoader> out;
    for (const auto& [n, l] : loaders_) out.push_back(l);
    return out;
  }

 private:
  // The built-ins are added here, not by static registrars, so that they
  // exist however fedjets_common_core is linked.
  Registry() {
    for (const char* idx : {"fashion-mnist", "mnist", "idx"}) {
      const std::string name = idx;
      loaders_[name] = {
          name,
          name == "fashion-mnist"
              ? "IDX files in --data DIR (train-/t10k-images-idx3-ubyte[.gz] "
                "...), 10 Fashion-MNIST class names"
              : "IDX files in --data DIR (train-/t10k-images-idx3-ubyte[.gz] "
                "...)",
          [name](const DatasetSource& s) { return LoadIdxDir(s.path, name); },
          nullptr,
          [name](const DatasetSource& s, const SelectRowsFn& select) {
            return LoadIdxTrainRows(s.path, name, select);
          }};
    }
    loaders_["csv"] = {"csv",
                       "a CSV file with a header row; options label, ignore, "
                       "classes, test, seed, "
                       "test_fraction, standardize",
                       LoadCsv, nullptr, nullptr};
    loaders_["csv-folder"] = {
        "csv-folder",
        "a directory of per-client files client-<i>.csv plus test.csv; "
        "options label, ignore, classes, standardize",
        LoadCsvFolder, LoadCsvFolderClient, nullptr};
  }

  std::mutex mu_;
  std::map<std::string, DatasetLoader> loaders_;
};

}  // namespace

Status RegisterDataset(DatasetLoader loader) {
  return Registry::Get().Add(std::move(loader));
}

Status RegisterDataset(std::string name, std::string description, LoadFn load) {
  return RegisterDataset(DatasetLoader{std::move(name), std::move(description),
                                       std::move(load), nullptr, nullptr});
}

Result<DatasetLoader> FindDataset(const std::string& name) {
  return Registry::Get().Find(name);
}

std::vector<std::string> RegisteredDatasetNames() {
  std::vector<std::string> names;
  for (const auto& l : Registry::Get().All()) names.push_back(l.name);
  return names;
}

std::string DescribeDatasets() {
  std::string out;
  for (const auto& l : Registry::Get().All()) {
    out += l.name + ": " + l.description + "\n";
  }
  return out;
}

namespace internal {

bool RegisterDatasetOrDie(std::string name, std::string description,
                          LoadFn load) {
  Status st =
      RegisterDataset(std::move(name), std::move(description), std::move(load));
  if (!st.ok()) {
    std::fprintf(stderr, "fedjets: FEDJETS_REGISTER_DATASET failed: %s\n",
                 st.ToString().c_str());
    std::abort();
  }
  return true;
}

}  // namespace internal
}  // namespace fedjets::common
