#include "common/data/shards.h"

#include <fmt/format.h>

#include <numeric>

#include "common/data/dataset_registry.h"
#include "common/data/federation_split.h"

namespace fedjets::common {
namespace {

void Cap(Dataset& d, int64_t max_examples) {
  if (max_examples <= 0 || d.size() <= max_examples) return;
  std::vector<int64_t> first(max_examples);
  std::iota(first.begin(), first.end(), 0);
  d = Subset(d, first);
}

}  // namespace

Result<bool> IsPerClientDataset(const DatasetSource& data) {
  auto loader = FindDataset(data.name);
  if (!loader.ok()) return loader.status();
  return static_cast<bool>(loader->load_client);
}

Result<std::vector<Dataset>> LoadShards(const ShardOptions& o,
                                        const std::vector<int>& shards) {
  if (o.num_shards < 1) {
    return InvalidArgument(
        fmt::format("the number of clients (--num-shards) is {}; it must be "
                    ">= 1",
                    o.num_shards));
  }
  for (int s : shards) {
    if (s < 0 || s >= o.num_shards) {
      return InvalidArgument(
          fmt::format("shard {} is outside [0, {}) (--num-shards {})", s,
                      o.num_shards, o.num_shards));
    }
  }
  auto loader = FindDataset(o.data.name);
  if (!loader.ok()) return loader.status();
  std::vector<Dataset> out;
  if (loader->load_client) {
    if (o.validation_fraction > 0) {
      return InvalidArgument(fmt::format(
          "--validation-fraction {}: dataset '{}' holds one file per client, "
          "so no validation slice can be cut from a shared training split; "
          "use a dataset split by --partition for validation clients",
          o.validation_fraction, o.data.name));
    }
    for (int s : shards) {
      const std::string what =
          fmt::format("dataset '{}' client {}", o.data.name, s);
      auto d = loader->load_client(o.data, s, o.num_shards);
      if (!d.ok()) return d.status().Annotate(what);
      FEDJETS_RETURN_IF_ERROR(ValidateDataset(*d, what));
      Cap(*d, o.max_examples_per_client);
      out.push_back(std::move(d).value());
    }
    return out;
  }
  auto data = LoadDataset(o.data);
  if (!data.ok()) return data.status();
  const Dataset& train = data->train;
  // With num_experts == 0 this is exactly Partition(spec, seed).
  SplitOptions so;
  so.partition = o.partition;
  so.num_clients = o.num_shards;
  so.num_experts = o.num_experts;
  so.seed = o.seed;
  so.validation_fraction = o.validation_fraction;
  auto split = MakeFederationSplit(train.labels, train.num_classes, so);
  if (!split.ok()) return split.status();
  for (int s : shards) {
    std::vector<int64_t> idx = split->clients[s].indices;
    if (o.max_examples_per_client > 0 &&
        static_cast<int64_t>(idx.size()) > o.max_examples_per_client) {
      idx.resize(o.max_examples_per_client);
    }
    out.push_back(Subset(train, idx));
  }
  return out;
}

}  // namespace fedjets::common
