// PartitionByClassSets and PartitionWithUnseen (declared in partition.h).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "common/base/seeded_random.h"
#include "common/data/partition.h"
#include "common/data/partition_classes.h"

namespace fedjets::common {
namespace {

using Parts = std::vector<std::vector<int64_t>>;
using ClassSet = std::vector<int64_t>;  // ascending

// Enumerating every K-combination is exact; above this many we draw random
// combinations instead (the space is then far larger than any federation).
constexpr uint64_t kMaxEnumeratedCombinations = 200'000;
constexpr int kRandomCombinationTries = 10'000;

// C(n, k), saturating at `cap` + 1.
uint64_t Choose(int64_t n, int64_t k, uint64_t cap) {
  uint64_t c = 1;
  for (int64_t i = 1; i <= k; ++i) {
    c = c * static_cast<uint64_t>(n - k + i) / static_cast<uint64_t>(i);
    if (c > cap) return cap + 1;
  }
  return c;
}

// Picks one unseen client's combination (see the header for the order of
// preference). `held` counts how many clients hold each combination.
ClassSet PickUnseenSet(int64_t num_classes, int k,
                       const std::map<ClassSet, int>& train_held,
                       const std::map<ClassSet, int>& unseen_held,
                       const std::vector<int64_t>& unseen_usage,
                       std::mt19937_64& rng) {
  auto count = [](const std::map<ClassSet, int>& m, const ClassSet& s) {
    auto it = m.find(s);
    return it == m.end() ? 0 : it->second;
  };
  if (Choose(num_classes, k, kMaxEnumeratedCombinations) >
      kMaxEnumeratedCombinations) {
    ClassSet set;
    for (int t = 0; t < kRandomCombinationTries; ++t) {
      std::vector<int64_t> all(num_classes);
      for (int64_t c = 0; c < num_classes; ++c) all[c] = c;
      Shuffle(all, rng);
      set.assign(all.begin(), all.begin() + k);
      std::sort(set.begin(), set.end());
      if (count(train_held, set) == 0 && count(unseen_held, set) == 0) break;
    }
    return set;
  }
  // Exhaustive: the lexicographically ordered combinations, scored; ties
  // between equal scores are broken by a seeded random key.
  using Score = std::tuple<int, int, int64_t, uint64_t>;
  ClassSet set(k), best;
  Score best_score{};
  for (int i = 0; i < k; ++i) set[i] = i;
  for (bool first = true;; first = false) {
    int64_t usage = 0;
    for (int64_t c : set) usage += unseen_usage[c];
    const Score score{count(train_held, set), count(unseen_held, set), usage,
                      rng()};
    if (first || score < best_score) {
      best_score = score;
      best = set;
    }
    int i = k - 1;  // advance to the next combination
    while (i >= 0 && set[i] == num_classes - k + i) --i;
    if (i < 0) break;
    ++set[i];
    for (int j = i + 1; j < k; ++j) set[j] = set[j - 1] + 1;
  }
  return best;
}

std::vector<int64_t> ClassesOf(const std::vector<int64_t>& labels,
                               const std::vector<int64_t>& part) {
  std::set<int64_t> s;
  for (int64_t i : part) s.insert(labels[i]);
  return {s.begin(), s.end()};
}

}  // namespace

Result<Parts> PartitionByClassSets(const std::vector<int64_t>& labels,
                                   int64_t num_classes,
                                   const std::vector<ClassSet>& class_sets,
                                   uint64_t seed) {
  if (class_sets.empty())
    return InvalidArgument("no clients (class_sets is empty)");
  if (num_classes < 1) {
    return InvalidArgument(
        fmt::format("num_classes is {}; it must be >= 1", num_classes));
  }
  auto by_class = partition_internal::IndicesByClass(labels, num_classes);
  if (!by_class.ok()) return by_class.status();
  std::vector<size_t> holder_count(num_classes, 0);
  for (size_t j = 0; j < class_sets.size(); ++j) {
    std::set<int64_t> seen;
    for (int64_t c : class_sets[j]) {
      if (c < 0 || c >= num_classes) {
        return InvalidArgument(fmt::format(
            "client {} holds class {}, outside [0, {})", j, c, num_classes));
      }
      if (!seen.insert(c).second) {
        return InvalidArgument(
            fmt::format("client {} lists class {} twice", j, c));
      }
      ++holder_count[c];
    }
  }
  for (int64_t c = 0; c < num_classes; ++c) {
    if (holder_count[c] > (*by_class)[c].size()) {
      return InvalidArgument(fmt::format(
          "class {} has {} examples but {} clients hold it; use fewer "
          "clients or fewer classes per client",
          c, (*by_class)[c].size(), holder_count[c]));
    }
  }
  std::mt19937_64 rng(seed);
  Parts parts =
      partition_internal::CutClassesAmongHolders(*by_class, class_sets, rng);
  for (auto& p : parts) std::sort(p.begin(), p.end());
  return parts;
}

Result<UnseenPartition> PartitionWithUnseen(const std::vector<int64_t>& labels,
                                            int64_t num_classes, int num_train,
                                            int num_unseen,
                                            const PartitionSpec& spec,
                                            uint64_t seed) {
  if (num_train < 1 || num_unseen < 0) {
    return InvalidArgument(
        fmt::format("need >= 1 training and >= 0 unseen clients, got {} and {}",
                    num_train, num_unseen));
  }
  UnseenPartition out;
  if (spec.kind != PartitionSpec::Kind::kClasses) {
    auto parts =
        Partition(labels, num_classes, num_train + num_unseen, spec, seed);
    if (!parts.ok()) return parts.status();
    for (int j = 0; j < num_train + num_unseen; ++j) {
      auto& dst = j < num_train ? out.train : out.unseen;
      auto& cls = j < num_train ? out.train_classes : out.unseen_classes;
      cls.push_back(ClassesOf(labels, (*parts)[j]));
      dst.push_back(std::move((*parts)[j]));
    }
    return out;
  }
  const int k = spec.classes_per_client;
  if (num_classes < 1 || k < 1 || k > num_classes) {
    return InvalidArgument(fmt::format(
        "partition {}: classes_per_client must be in [1, num_classes = {}]",
        ToString(spec), num_classes));
  }
  std::mt19937_64 rng(seed);
  out.train_classes =
      partition_internal::AssignClasses(num_classes, num_train, k, rng);
  std::map<ClassSet, int> train_held, unseen_held;
  for (const auto& s : out.train_classes) ++train_held[s];
  std::vector<int64_t> unseen_usage(num_classes, 0);
  for (int u = 0; u < num_unseen; ++u) {
    ClassSet s = PickUnseenSet(num_classes, k, train_held, unseen_held,
                               unseen_usage, rng);
    if (train_held.contains(s)) ++out.unseen_sharing_a_train_combination;
    ++unseen_held[s];
    for (int64_t c : s) ++unseen_usage[c];
    out.unseen_classes.push_back(std::move(s));
  }
  std::vector<ClassSet> all = out.train_classes;
  all.insert(all.end(), out.unseen_classes.begin(), out.unseen_classes.end());
  auto parts = PartitionByClassSets(labels, num_classes, all, rng());
  if (!parts.ok())
    return parts.status().Annotate("partition " + ToString(spec));
  out.train.assign(parts->begin(), parts->begin() + num_train);
  out.unseen.assign(parts->begin() + num_train, parts->end());
  return out;
}

}  // namespace fedjets::common
