// Seeded, deterministic partitioners that split a dataset's examples among
// federated clients by label: IID, K classes per client, and Dirichlet(alpha).
//
// All functions are pure (no shared state) and safe to call from any thread.
// Results depend only on the inputs and the seed. Randomness comes from
// std::mt19937_64 (fully specified by the standard) through this module's own
// shuffle, uniform and gamma (Marsaglia-Tsang) samplers, never through
// std::*_distribution or std::shuffle, whose algorithms are
// implementation-defined (libstdc++'s gamma_distribution would do on this
// toolchain, but would tie experiment splits to it). IID and classes splits
// use integer arithmetic only and are identical on every platform; Dirichlet
// splits also go through libm's log/exp/cos, so a different C library could
// in rare cases move an example across a boundary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common {

struct PartitionSpec {
  enum class Kind { kIid, kClasses, kDirichlet };
  Kind kind = Kind::kIid;
  int classes_per_client = 2;  // kClasses
  double alpha = 0.5;          // kDirichlet
  // kDirichlet: the split is redrawn (a bounded number of times) until every
  // client has at least this many examples.
  int64_t min_examples_per_client = 1;

  bool operator==(const PartitionSpec&) const = default;
};

// Parses "iid", "classes:K" (e.g. "classes:2") or "dirichlet:ALPHA" (e.g.
// "dirichlet:0.1"), optionally "dirichlet:ALPHA:MIN" to set
// min_examples_per_client. Fields that the kind does not use keep their
// defaults. InvalidArgument names the bad text and lists the accepted forms.
Result<PartitionSpec> ParsePartitionSpec(const std::string& text);

// The spec in the form ParsePartitionSpec accepts; round-trips exactly
// (alpha is printed in shortest round-trip form; MIN only when not 1).
std::string ToString(const PartitionSpec& spec);

// Splits the indices of `labels` among num_clients clients; returns one
// ascending list of example indices per client. Client lists are disjoint.
//   kIid:       a seeded shuffle cut into num_clients near-equal parts
//               (sizes differ by at most one); covers every example.
//   kDirichlet: per class, client shares are drawn from Dirichlet(alpha) and
//               the class's shuffled examples are cut by them; covers every
//               example. Small alpha concentrates each client on few classes,
//               large alpha approaches IID.
//   kClasses:   every client gets exactly K distinct classes, chosen
//               least-used-first (ties broken by the seed), so each class is
//               held by either floor or ceil of num_clients*K/num_classes
//               clients and all classes are covered when num_clients*K >=
//               num_classes (otherwise the unheld classes' examples are left
//               out). Each class's examples are cut near-evenly and disjointly
//               among its holders.
// InvalidArgument: num_clients < 1, num_classes < 1, a label outside
// [0, num_classes), more clients than examples, K < 1 or K > num_classes,
// in kClasses a class with no examples or with fewer examples than the
// ceil(num_clients*K/num_classes) clients that may share it (checked for
// every class so the outcome never depends on the seed), alpha that is not a
// finite number > 0, min_examples_per_client < 0 or not met within the
// bounded redraws.
Result<std::vector<std::vector<int64_t>>> Partition(
    const std::vector<int64_t>& labels, int64_t num_classes, int num_clients,
    const PartitionSpec& spec, uint64_t seed);

// result[client][class] = number of that client's examples with that label.
// Indices and labels must be in range (as Partition returns them); a
// violation is a caller bug and aborts with a message.
std::vector<std::vector<int64_t>> ClassHistogram(
    const std::vector<int64_t>& labels, int64_t num_classes,
    const std::vector<std::vector<int64_t>>& parts);

// Fixed-width text table of a histogram: one row per client, one column per
// class (headed by class_names[c], or c where a name is missing), a per-row
// total column and a final totals row. Ends with a newline.
std::string FormatHistogram(const std::vector<std::vector<int64_t>>& hist,
                            const std::vector<std::string>& class_names);

// Splits the indices of `labels` among clients whose class sets are given:
// client j may receive only classes in class_sets[j]. Each class's examples
// are shuffled (seeded) and cut near-evenly and disjointly among the
// clients that hold it (which holder gets a remainder example is seeded
// too); examples of a class that no client holds are left out. Returns one
// ascending index list per client. InvalidArgument: no clients, a label or
// class id outside [0, num_classes), a class listed twice in one set, or a
// held class with fewer examples than holders.
Result<std::vector<std::vector<int64_t>>> PartitionByClassSets(
    const std::vector<int64_t>& labels, int64_t num_classes,
    const std::vector<std::vector<int64_t>>& class_sets, uint64_t seed);

// A split into training clients and held-out "unseen" clients that never
// train and only evaluate zero-shot (just-in-time) personalisation.
struct UnseenPartition {
  std::vector<std::vector<int64_t>> train;   // example indices, ascending
  std::vector<std::vector<int64_t>> unseen;  // example indices, ascending
  std::vector<std::vector<int64_t>> train_classes;   // classes each holds
  std::vector<std::vector<int64_t>> unseen_classes;  // ascending ids
  // Unseen clients whose class set equals some training client's set
  // (0 whenever enough unused combinations exist; see below).
  int unseen_sharing_a_train_combination = 0;
};

// Splits `labels` among num_train + num_unseen clients; every example goes
// to at most one client.
//   kClasses (K): training clients get K classes each, least-used-first with
//     seeded ties (as Partition does). Each unseen client gets a K-class
//     combination that no training client holds and, where possible, no
//     earlier unseen client either, preferring classes the unseen clients
//     use least; when every combination is taken (few classes, many
//     clients) it reuses the combination held by the fewest clients and
//     counts it in unseen_sharing_a_train_combination. Examples are then
//     cut as in PartitionByClassSets over all clients together.
//   kIid / kDirichlet: Partition over all clients; the last num_unseen are
//     the unseen ones (Dirichlet gives them their own skewed label mixes;
//     IID ones differ from training clients only by sampling).
// The result depends only on the inputs and the seed. InvalidArgument as
// for Partition, plus num_train < 1 or num_unseen < 0.
Result<UnseenPartition> PartitionWithUnseen(const std::vector<int64_t>& labels,
                                            int64_t num_classes, int num_train,
                                            int num_unseen,
                                            const PartitionSpec& spec,
                                            uint64_t seed);

}  // namespace fedjets::common
