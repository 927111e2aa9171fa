// Loads a process's local clients: the dataset from disk, split by a seeded
// partitioner, keeping only the shards this process hosts. Every process
// and the coordinator compute the same split from the same flags, so no
// data ever crosses the network. For a per-client dataset (csv-folder, or a
// plug-in with load_client) each hosted shard loads its own data and
// `partition` is ignored. See common/shards.h, which does the work.
#pragma once

#include <string>
#include <vector>

#include "client/client.h"
#include "common/base/status.h"
#include "common/data/dataset_source.h"

namespace fedjets::client {

struct DataOptions {
  common::DatasetSource data;
  std::string partition = "iid";  // see common/partition.h
  int num_shards = 1;             // clients in the whole federation
  std::vector<int> shards{0};     // the ones hosted here
  uint64_t seed = 1;
  int64_t max_examples_per_client = 0;  // 0 = all of the shard
  std::string name_prefix = "client-";
  // FedJETs layout: shards 0..num_experts-1 anchor experts 0..num_experts-1.
  int num_experts = 0;
  // Share of the training split held out for the coordinator's validation
  // clients (common/data/shards.h); 0 = none.
  double validation_fraction = 0;
};

common::Result<std::vector<LocalClient>> LoadLocalClients(
    const DataOptions& options);

}  // namespace fedjets::client
