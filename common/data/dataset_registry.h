// The dataset registry: dataset loaders by name, so that a new data source
// is one C++ file plus one registration line and every binary, flag and
// error message picks it up.
//
// Built-in loaders (fashion-mnist, mnist, idx, csv, csv-folder) are
// registered by the registry itself the first time it is used, so they never
// depend on static-initialisation order or on the linker keeping an object
// file. A plug-in registers its loader either
//   - explicitly, with RegisterDataset(...) early in main() (recommended:
//     it works however the plug-in is linked), or
//   - statically, with FEDJETS_REGISTER_DATASET(...) at namespace scope in
//     its .cc. The registrar runs before main() only if the linker keeps
//     that object file: true when the .cc is compiled into the executable or
//     an OBJECT library, NOT when it sits in a STATIC library that nothing
//     references (the linker drops the object, and the dataset silently goes
//     missing). Link such archives with $<LINK_LIBRARY:WHOLE_ARCHIVE,...>
//     or use the explicit call.
//
// Thread-safety: every function may be called from any thread; the registry
// is guarded by a mutex. Loaders themselves are called without the lock
// held and must be safe to call concurrently with themselves.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/data/dataset.h"
#include "common/data/dataset_source.h"

namespace fedjets::common {

// Loads the train and test splits of a source.
using LoadFn = std::function<Result<TrainTest>(const DatasetSource& source)>;

// Loads the training data of one client of a per-client dataset (client in
// [0, num_clients)). The returned Dataset must agree with the test split of
// LoadFn on example_shape, num_classes and class_names.
using LoadClientFn = std::function<Result<Dataset>(
    const DatasetSource& source, int client, int num_clients)>;

// Loads the rows of the train split of LoadFn that `select` picks (see
// SelectRowsFn in common/data/dataset.h), equal to those LoadFn loads.
using LoadTrainRowsFn = std::function<Result<Dataset>(
    const DatasetSource& source, const SelectRowsFn& select)>;

struct DatasetLoader {
  std::string name;         // what --dataset takes; [a-z0-9._-]+
  std::string description;  // one line, shown by --help and in errors
  LoadFn load;              // required
  // Optional. When set the dataset is per-client: client i trains on
  // load_client(source, i, n) and no partitioner is applied; `load` then
  // provides the test split for evaluation (and, where it can, the union of
  // the clients' data as its train split).
  LoadClientFn load_client;
  // Optional, for a dataset that is not per-client. When set, clients load
  // their shards through it (common/shards.h): only the rows their shards
  // hold, and not the test split. The built-in IDX loaders have it.
  LoadTrainRowsFn load_train_rows;
};

// Adds a loader. InvalidArgument when the name is empty or not of the form
// [a-z0-9._-]+, when `load` is empty, or when the name is already
// registered (registration never replaces a loader).
Status RegisterDataset(DatasetLoader loader);
Status RegisterDataset(std::string name, std::string description, LoadFn load);

// A copy of the loader registered under `name`; NotFound lists every
// registered name.
Result<DatasetLoader> FindDataset(const std::string& name);

// Registered names in ascending order.
std::vector<std::string> RegisteredDatasetNames();

// "name: description" lines, one per registered loader, sorted by name.
std::string DescribeDatasets();

namespace internal {
// Registers or aborts with a message (a duplicate name at static
// initialisation is a build mistake that must not go unnoticed). Used by
// FEDJETS_REGISTER_DATASET; returns true.
bool RegisterDatasetOrDie(std::string name, std::string description,
                          LoadFn load);
}  // namespace internal

}  // namespace fedjets::common

#define FEDJETS_DATASET_CONCAT_INNER(a, b) a##b
#define FEDJETS_DATASET_CONCAT(a, b) FEDJETS_DATASET_CONCAT_INNER(a, b)

// Registers `load` under `name` before main() runs. Use at namespace scope
// in a .cc that is linked as an object file (see the caveat at the top).
#define FEDJETS_REGISTER_DATASET(name, description, load)                  \
  [[maybe_unused]] static const bool FEDJETS_DATASET_CONCAT(               \
      fedjets_dataset_registered_, __LINE__) =                             \
      ::fedjets::common::internal::RegisterDatasetOrDie(name, description, \
                                                        load)
