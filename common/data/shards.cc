#include "common/data/shards.h"

#include <fmt/format.h>

#include <algorithm>
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

SplitOptions SplitOf(const ShardOptions& o) {
  // With num_experts == 0 this is exactly Partition(spec, seed).
  SplitOptions so;
  so.partition = o.partition;
  so.num_clients = o.num_shards;
  so.num_experts = o.num_experts;
  so.seed = o.seed;
  so.validation_fraction = o.validation_fraction;
  return so;
}

// Shard s's indices into the training split, capped as the options say.
std::vector<int64_t> ShardIndices(const FederationSplit& split, int s,
                                  int64_t max_examples) {
  std::vector<int64_t> idx = split.clients[s].indices;
  if (max_examples > 0 && static_cast<int64_t>(idx.size()) > max_examples) {
    idx.resize(max_examples);
  }
  return idx;
}

// The shards through the loader's load_train_rows: the split is computed
// from the training labels alone, and only the rows the shards hold are
// read, each once.
Result<std::vector<Dataset>> LoadShardRows(const DatasetLoader& loader,
                                           const ShardOptions& o,
                                           const std::vector<int>& shards) {
  std::vector<std::vector<int64_t>> wanted;
  std::vector<int64_t> rows;
  Status split_status;  // returned as it is, as LoadShards's other path does
  auto select = [&](const Dataset& labels) -> Result<std::vector<int64_t>> {
    auto split =
        MakeFederationSplit(labels.labels, labels.num_classes, SplitOf(o));
    if (!split.ok()) {
      split_status = split.status();
      return split_status;
    }
    wanted.clear();
    rows.clear();
    for (int s : shards) {
      wanted.push_back(ShardIndices(*split, s, o.max_examples_per_client));
      rows.insert(rows.end(), wanted.back().begin(), wanted.back().end());
    }
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    return rows;
  };
  const std::string what = "dataset '" + o.data.name + "'";
  auto train = loader.load_train_rows(o.data, select);
  if (!split_status.ok()) return split_status;
  if (!train.ok()) return train.status().Annotate(what);
  FEDJETS_RETURN_IF_ERROR(ValidateDataset(*train, what + " train split"));
  if (train->size() != static_cast<int64_t>(rows.size())) {
    return Internal(fmt::format("{} loaded {} rows of the {} asked for", what,
                                train->size(), rows.size()));
  }
  std::vector<Dataset> out;
  if (wanted.size() == 1 && wanted[0] == rows) {  // one shard, in row order
    out.push_back(std::move(train).value());
    return out;
  }
  for (const auto& idx : wanted) {
    // The shard's examples, in its order, by their places among `rows`.
    std::vector<int64_t> at(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) {
      at[i] = std::lower_bound(rows.begin(), rows.end(), idx[i]) - rows.begin();
    }
    out.push_back(Subset(*train, at));
  }
  return out;
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
  if (loader->load_train_rows) return LoadShardRows(*loader, o, shards);
  auto data = LoadDataset(o.data);
  if (!data.ok()) return data.status();
  const Dataset& train = data->train;
  auto split = MakeFederationSplit(train.labels, train.num_classes, SplitOf(o));
  if (!split.ok()) return split.status();
  for (int s : shards) {
    out.push_back(
        Subset(train, ShardIndices(*split, s, o.max_examples_per_client)));
  }
  return out;
}

}  // namespace fedjets::common
