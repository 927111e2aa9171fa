#include "tools/sim/sim_layout.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <numeric>
#include <vector>

#include "common/data/shards.h"
#include "tools/sim/partition_summary.h"

namespace fedjets::coordinator {

double ValidationFraction(const SimOptions& o) {
  return o.validation_clients > 0 ? o.validation_fraction : 0.0;
}

common::Status SummarizePartition(const SimOptions& o,
                                  const std::filesystem::path& run) {
  common::ShardOptions so;
  so.data = o.data;
  so.partition = o.partition;
  so.num_shards = o.clients;
  so.seed = o.strategy.seed;
  so.max_examples_per_client = o.max_examples_per_client;
  so.num_experts = o.strategy.num_experts;
  so.validation_fraction = ValidationFraction(o);
  std::vector<int> all(o.clients);
  std::iota(all.begin(), all.end(), 0);
  auto shards = common::LoadShards(so, all);
  if (!shards.ok()) {
    return shards.status().Annotate("loading the clients' data");
  }
  std::vector<std::vector<int64_t>> hist;
  for (const auto& s : *shards) hist.push_back(common::ClassCounts(s));
  auto per_client = common::IsPerClientDataset(o.data);
  std::string how = per_client.ok() && *per_client ? "one file per client"
                                                   : "partition " + o.partition;
  if (so.validation_fraction > 0) {
    how += fmt::format(
        " after {} of the training split was held out for {} "
        "validation clients",
        so.validation_fraction, o.validation_clients);
  }
  const std::string title =
      fmt::format("{} ({}): {} clients, {}, seed {}", o.data.name, o.data.path,
                  o.clients, how, o.strategy.seed);
  auto summary = common::WritePartitionSummary(
      hist, shards->front().class_names, title, run);
  if (!summary.ok()) return summary.status();
  if (!summary->warning.empty()) spdlog::warn("{}", summary->warning);
  if (o.show_partition) fmt::print("{}", summary->table);
  fmt::print("fedjets-sim: partition summary in {}{}\n", summary->table_path,
             summary->png_path.empty() ? "" : " and " + summary->png_path);
  std::fflush(stdout);
  return common::Status::Ok();
}

}  // namespace fedjets::coordinator
