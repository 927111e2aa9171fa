// Class-based splitting shared by Partition (classes:K) and
// PartitionByClassSets / PartitionWithUnseen (partition.h): which classes
// each client holds, and how each class's examples are cut among its
// holders. Internal to fedjets_data. Pure functions; the caller owns the
// engine, and each function draws from it in a fixed order, so a split
// depends only on the inputs and the engine's state.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common::partition_internal {

// The indices of `labels` grouped by label: result[c] lists, ascending, the
// examples labelled c. InvalidArgument names the first label outside
// [0, num_classes) and its example.
Result<std::vector<std::vector<int64_t>>> IndicesByClass(
    const std::vector<int64_t>& labels, int64_t num_classes);

// K of the num_classes classes for each of num_clients clients, in client
// order: each client takes the K classes held by the fewest earlier clients,
// ties broken by a seeded shuffle of the class ids. Returns each client's
// classes ascending. Requires 1 <= k <= num_classes.
std::vector<std::vector<int64_t>> AssignClasses(int64_t num_classes,
                                                int num_clients, int k,
                                                std::mt19937_64& rng);

// Hands `items` to `holders` in near-equal consecutive runs (the first
// items.size() % holders.size() holders get one extra), appending to
// parts[holder].
void SplitEvenly(const std::vector<int64_t>& items,
                 const std::vector<int64_t>& holders,
                 std::vector<std::vector<int64_t>>& parts);

// Client j may receive only the classes in class_sets[j] (ids in range, none
// twice). For each class in id order that some client holds, its examples
// (by_class[c]) and then its holders are shuffled, and the examples are cut
// among the holders with SplitEvenly; unheld classes are left out. Returns
// one (unsorted) index list per client.
std::vector<std::vector<int64_t>> CutClassesAmongHolders(
    const std::vector<std::vector<int64_t>>& by_class,
    const std::vector<std::vector<int64_t>>& class_sets, std::mt19937_64& rng);

}  // namespace fedjets::common::partition_internal
