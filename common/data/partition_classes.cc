#include "common/data/partition_classes.h"

#include <algorithm>
#include <string>

#include "common/base/seeded_random.h"

namespace fedjets::common::partition_internal {

Result<std::vector<std::vector<int64_t>>> IndicesByClass(
    const std::vector<int64_t>& labels, int64_t num_classes) {
  std::vector<std::vector<int64_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return InvalidArgument("label " + std::to_string(labels[i]) +
                             " of example " + std::to_string(i) +
                             " is outside [0, " + std::to_string(num_classes) +
                             ")");
    }
    by_class[labels[i]].push_back(static_cast<int64_t>(i));
  }
  return by_class;
}

std::vector<std::vector<int64_t>> AssignClasses(int64_t num_classes,
                                                int num_clients, int k,
                                                std::mt19937_64& rng) {
  std::vector<int64_t> usage(num_classes, 0);
  std::vector<int64_t> order(num_classes);
  std::vector<std::vector<int64_t>> sets(num_clients);
  for (auto& set : sets) {
    for (int64_t c = 0; c < num_classes; ++c) order[c] = c;
    Shuffle(order, rng);  // the seeded tie break among equally used classes
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return usage[a] < usage[b]; });
    set.assign(order.begin(), order.begin() + k);
    for (int64_t c : set) ++usage[c];
    std::sort(set.begin(), set.end());
  }
  return sets;
}

void SplitEvenly(const std::vector<int64_t>& items,
                 const std::vector<int64_t>& holders,
                 std::vector<std::vector<int64_t>>& parts) {
  const size_t num = holders.size();
  size_t next = 0;
  for (size_t j = 0; j < num; ++j) {
    const size_t take = items.size() / num + (j < items.size() % num ? 1 : 0);
    auto& dst = parts[holders[j]];
    dst.insert(dst.end(), items.begin() + next, items.begin() + next + take);
    next += take;
  }
}

std::vector<std::vector<int64_t>> CutClassesAmongHolders(
    const std::vector<std::vector<int64_t>>& by_class,
    const std::vector<std::vector<int64_t>>& class_sets, std::mt19937_64& rng) {
  std::vector<std::vector<int64_t>> holders(by_class.size());
  for (size_t j = 0; j < class_sets.size(); ++j) {
    for (int64_t c : class_sets[j]) {
      holders[c].push_back(static_cast<int64_t>(j));
    }
  }
  std::vector<std::vector<int64_t>> parts(class_sets.size());
  for (size_t c = 0; c < by_class.size(); ++c) {
    if (holders[c].empty()) continue;
    std::vector<int64_t> items = by_class[c];
    Shuffle(items, rng);
    // Which holder gets a remainder example is seeded, not by client id.
    Shuffle(holders[c], rng);
    SplitEvenly(items, holders[c], parts);
  }
  return parts;
}

}  // namespace fedjets::common::partition_internal
