// How a simulated federation's data is laid out for FedJETs experiments:
// which examples each training client holds, which clients are anchors
// (one per expert, holding that expert's class group), and the evaluation
// clients — "seen" ones with the label mix of training clients and
// "unseen" ones holding label combinations no training client has, used
// for just-in-time zero-shot evaluation — and, on request, "validation"
// clients drawn like the unseen ones from a slice cut off the training
// split before the clients are partitioned (for tuning; issue #14).
//
// Pure functions of their inputs and seed; torch-free; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/data/eval_client_kind.h"

namespace fedjets::common {

struct ClientShard {
  std::vector<int64_t> indices;  // into the training split, ascending
  std::vector<int64_t> classes;  // classes it holds
  int anchor_expert = -1;        // expert it anchors, or -1
};

struct EvalClientSpec {
  std::string name;
  EvalClientKind kind = EvalClientKind::kSeen;
  std::vector<double> class_weights;  // label mix of its data, sums to 1
};

struct FederationSplit {
  std::vector<ClientShard> clients;  // index = shard
  // Seen, then unseen, then validation clients.
  std::vector<EvalClientSpec> eval_clients;
  // Per expert, the classes its anchor holds (empty without experts).
  std::vector<std::vector<int64_t>> anchor_classes;
  // The validation slice: indices into the training split, ascending,
  // that no client holds; validation clients draw their examples from
  // these only. Empty when validation_fraction is 0.
  std::vector<int64_t> validation_indices;
};

struct SplitOptions {
  // "grouped": the paper's protocol. Classes are shuffled into num_experts
  //   groups; anchor q holds group q; every normal client holds the union
  //   of two groups; ~30% of the group pairs are held out and held only by
  //   unseen evaluation clients.
  // "grouped-random": anchors as above; normal clients hold 2 x group-size
  //   random classes; unseen clients hold random sets no client holds.
  // "iid", "classes:K", "dirichlet:ALPHA": anchors as above (each holding
  //   an average client's worth of its group), the rest split among normal
  //   clients by that partitioner (common/partition.h).
  std::string partition = "grouped";
  int num_clients = 10;
  int num_experts = 0;  // 0: no anchors, every client is normal
  int num_seen_eval = 10;
  int num_unseen_eval = 10;  // upper bound for "grouped"
  uint64_t seed = 1;
  // Honest tuning (issue #14). With validation_fraction in (0, 1) that
  // share of every class's training examples (rounded; seeded, apart from
  // the layout's own draws) is cut off before the clients are
  // partitioned, and num_validation_eval validation clients get label
  // mixes drawn as the unseen clients' are: "grouped" cycles through the
  // held-out group pairs, "grouped-random" and "classes:K" draw label sets
  // of the clients' size that no training client holds, "dirichlet:ALPHA"
  // draws Dirichlet(ALPHA) mixes, "iid" the uniform mix. In the grouped
  // layouts the clients' class sets and the unseen clients stay those
  // without the cut; only which examples the clients hold changes. 0: no
  // cut, the split is exactly the one without these options. Clients
  // (LoadShards) cut the same slice with num_validation_eval = 0.
  double validation_fraction = 0;
  int num_validation_eval = 0;  // needs validation_fraction > 0
};

Result<FederationSplit> MakeFederationSplit(const std::vector<int64_t>& labels,
                                            int64_t num_classes,
                                            const SplitOptions& options);

// Draws up to n indices of `labels` following class_weights (largest
// remainder per class, without replacement, seeded), sorted ascending.
std::vector<int64_t> SampleByClass(const std::vector<int64_t>& labels,
                                   const std::vector<double>& class_weights,
                                   int64_t n, uint64_t seed);

}  // namespace fedjets::common
