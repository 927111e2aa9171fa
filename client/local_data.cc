#include "client/local_data.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/data/shards.h"
#include "common/learn/training.h"

namespace fedjets::client {

common::Result<std::vector<LocalClient>> LoadLocalClients(
    const DataOptions& o) {
  common::ShardOptions so;
  so.data = o.data;
  so.partition = o.partition;
  so.num_shards = o.num_shards;
  so.seed = o.seed;
  so.max_examples_per_client = o.max_examples_per_client;
  so.num_experts = o.num_experts;
  so.validation_fraction = o.validation_fraction;
  auto shards = common::LoadShards(so, o.shards);
  if (!shards.ok()) return shards.status().Annotate("loading local data");
  std::vector<LocalClient> out;
  int64_t examples = 0;
  for (size_t i = 0; i < o.shards.size(); ++i) {
    auto tensors =
        std::make_shared<common::TensorData>(common::ToTensors((*shards)[i]));
    const int s = o.shards[i];
    examples += tensors->size();
    out.push_back({fmt::format("{}{}", o.name_prefix, s), std::move(tensors),
                   s < o.num_experts ? s : -1});
  }
  spdlog::debug("{} local examples loaded for {} client(s)", examples,
                out.size());
  return out;
}

}  // namespace fedjets::client
