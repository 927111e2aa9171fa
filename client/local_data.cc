#include "client/local_data.h"

#include <fmt/format.h>

#include "common/dataset.h"
#include "common/partition.h"
#include "common/training.h"

namespace fedjets::client {

common::Result<std::vector<LocalClient>> LoadLocalClients(
    const DataOptions& o) {
  if (o.num_shards < 1) {
    return common::InvalidArgument("--num-shards must be >= 1");
  }
  for (int s : o.shards) {
    if (s < 0 || s >= o.num_shards) {
      return common::InvalidArgument(fmt::format(
          "shard {} is outside [0, {}) (--num-shards {})", s, o.num_shards,
          o.num_shards));
    }
  }
  auto spec = common::ParsePartitionSpec(o.partition);
  if (!spec.ok()) return spec.status();
  auto data = common::LoadDataset(o.data);
  if (!data.ok()) return data.status().Annotate("loading local data");
  const common::Dataset& train = data->train;
  auto parts = common::Partition(train.labels, train.num_classes,
                                 o.num_shards, *spec, o.seed);
  if (!parts.ok()) return parts.status();
  std::vector<LocalClient> out;
  for (int s : o.shards) {
    std::vector<int64_t> idx = (*parts)[s];
    if (o.max_examples_per_client > 0 &&
        static_cast<int64_t>(idx.size()) > o.max_examples_per_client) {
      idx.resize(o.max_examples_per_client);
    }
    auto tensors = std::make_shared<common::TensorData>(
        common::ToTensors(common::Subset(train, idx)));
    out.push_back({fmt::format("{}{}", o.name_prefix, s),
                           std::move(tensors)});
  }
  return out;
}

}  // namespace fedjets::client
