// The training data of a federation's clients ("shards"), torch-free, so
// that clients (client/local_data.h), fedjets-sim's partition summary and
// tests all compute the same split from the same settings.
//
// For a per-client dataset (a registered loader with load_client, such as
// csv-folder) shard i is that client's own data and the partition spec is
// not applied. Otherwise the train split of LoadDataset is divided by
// Partition (common/partition.h) with the given spec and seed, identically
// in every process. A loader with load_train_rows (the IDX ones) is asked
// for the shards' rows alone: the split needs only the training labels, so
// a client reads its own examples and not the rest of the training split
// nor the test split. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/data/dataset.h"
#include "common/data/dataset_source.h"

namespace fedjets::common {

struct ShardOptions {
  DatasetSource data;
  std::string partition = "iid";        // ParsePartitionSpec form
  int num_shards = 1;                   // clients in the whole federation
  uint64_t seed = 1;                    // partition seed
  int64_t max_examples_per_client = 0;  // 0 = all; else the first N of a shard
  // FedJETs layout: shards 0..num_experts-1 are the anchors, each holding
  // one class group (common/federation_split.h). 0 = plain partition.
  int num_experts = 0;
  // Share of the training split cut off for the coordinator's validation
  // clients before the shards are made (SplitOptions::validation_fraction;
  // must match the coordinator's). 0 = none. Per-client datasets refuse it.
  double validation_fraction = 0;
};

// True when `data` names a per-client dataset. NotFound for an unknown name.
Result<bool> IsPerClientDataset(const DatasetSource& data);

// The datasets of shards `shards` (each in [0, num_shards)), in that order.
// Errors: an invalid spec or shard index, and any loader or partition error.
Result<std::vector<Dataset>> LoadShards(const ShardOptions& options,
                                        const std::vector<int>& shards);

}  // namespace fedjets::common
