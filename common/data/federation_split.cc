#include "common/data/federation_split.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "common/base/seeded_random.h"
#include "common/data/federation_layout.h"
#include "common/data/partition.h"

namespace fedjets::common {
namespace {

using federation_internal::ClassSet;

std::vector<ClassSet> MakeGroups(int64_t num_classes, int num_groups,
                                 std::mt19937_64& rng) {
  std::vector<int64_t> classes(num_classes);
  std::iota(classes.begin(), classes.end(), 0);
  common::PairedShuffle(classes, rng);
  std::vector<ClassSet> groups(num_groups);
  for (int64_t i = 0; i < num_classes; ++i) {
    groups[i % num_groups].push_back(classes[i]);
  }
  for (auto& g : groups) std::sort(g.begin(), g.end());
  return groups;
}

ClassSet Union(const ClassSet& a, const ClassSet& b) {
  ClassSet u;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(u));
  return u;
}

ClassSet RandomSet(int64_t num_classes, size_t size, std::mt19937_64& rng) {
  std::vector<int64_t> all(num_classes);
  std::iota(all.begin(), all.end(), 0);
  common::PairedShuffle(all, rng);
  ClassSet s(all.begin(), all.begin() + std::min<size_t>(size, all.size()));
  std::sort(s.begin(), s.end());
  return s;
}

// Splits every class's examples evenly among the clients holding it.
void AssignByClassSets(const std::vector<int64_t>& labels, int64_t num_classes,
                       std::vector<ClientShard>& clients,
                       std::mt19937_64& rng) {
  std::vector<std::vector<int64_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(i);
  for (int64_t c = 0; c < num_classes; ++c) {
    std::vector<size_t> holders;
    for (size_t k = 0; k < clients.size(); ++k) {
      const auto& cl = clients[k].classes;
      if (std::find(cl.begin(), cl.end(), c) != cl.end()) holders.push_back(k);
    }
    if (holders.empty()) continue;
    auto& idx = by_class[c];
    common::PairedShuffle(idx, rng);
    for (size_t j = 0; j < idx.size(); ++j) {
      clients[holders[j % holders.size()]].indices.push_back(idx[j]);
    }
  }
}

std::vector<double> Histogram(const std::vector<int64_t>& labels,
                              const std::vector<int64_t>& indices,
                              int64_t num_classes) {
  std::vector<double> w(num_classes, 0.0);
  for (int64_t i : indices) w[labels[i]] += 1.0;
  const double total = std::max<double>(1.0, indices.size());
  for (double& v : w) v /= total;
  return w;
}

}  // namespace

std::vector<int64_t> SampleByClass(const std::vector<int64_t>& labels,
                                   const std::vector<double>& weights,
                                   int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t num_classes = static_cast<int64_t>(weights.size());
  std::vector<std::vector<int64_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < num_classes) by_class[labels[i]].push_back(i);
  }
  std::vector<int64_t> out;
  for (int64_t c = 0; c < num_classes; ++c) {
    const auto want = static_cast<int64_t>(std::llround(weights[c] * n));
    auto& idx = by_class[c];
    common::PairedShuffle(idx, rng);
    const int64_t take = std::min<int64_t>(want, idx.size());
    out.insert(out.end(), idx.begin(), idx.begin() + take);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace federation_internal {

std::vector<double> Uniform(const ClassSet& s, int64_t num_classes) {
  std::vector<double> w(num_classes, 0.0);
  for (int64_t c : s) w[c] = 1.0 / static_cast<double>(s.size());
  return w;
}

// Up to `count` distinct random class sets of `size` that are not in
// `held` (10000 draws at most).
std::vector<ClassSet> DrawUnheldSets(int64_t num_classes, size_t size,
                                     const std::set<ClassSet>& held, int count,
                                     std::mt19937_64& rng) {
  std::vector<ClassSet> out;
  for (int tries = 0; tries < 10000 && static_cast<int>(out.size()) < count;
       ++tries) {
    ClassSet s = RandomSet(num_classes, size, rng);
    if (!held.count(s) && std::find(out.begin(), out.end(), s) == out.end()) {
      out.push_back(s);
    }
  }
  return out;
}

Result<FederationSplit> MakeLayout(const std::vector<int64_t>& labels,
                                   int64_t num_classes, const SplitOptions& o) {
  const int m = o.num_experts;
  if (o.num_clients < 1) return InvalidArgument("need at least one client");
  if (m < 0 || m > num_classes) {
    return InvalidArgument(
        fmt::format("--num-experts {} must be between 1 and the {} classes", m,
                    num_classes));
  }
  const bool grouped =
      o.partition == "grouped" || o.partition == "grouped-random";
  if (grouped && m < 2) {
    return InvalidArgument(
        "the grouped partitions need --num-experts >= 2 (one class group "
        "per expert)");
  }
  // grouped holds about 30% of the m(m-1)/2 group pairs out for unseen
  // clients (at least one): with 2 experts the only pair would be held out
  // and the normal clients would get none.
  if (o.partition == "grouped" && m < 3) {
    return InvalidArgument(fmt::format(
        "--partition grouped needs --num-experts >= 3: {} experts make {} "
        "pair of class groups, which is held out for unseen clients and "
        "leaves none for the normal clients (grouped-random works with 2)",
        m, m * (m - 1) / 2));
  }
  if (o.num_clients <= m) {
    return InvalidArgument(fmt::format(
        "{} clients leave none besides the {} anchors", o.num_clients, m));
  }
  std::mt19937_64 rng(o.seed);
  FederationSplit split;
  split.clients.resize(o.num_clients);
  std::vector<ClassSet> groups;
  if (m > 0) {
    groups = MakeGroups(num_classes, m, rng);
    split.anchor_classes = groups;
    for (int q = 0; q < m; ++q) {
      split.clients[q].classes = groups[q];
      split.clients[q].anchor_expert = q;
    }
  }
  const int first_normal = m;
  const int num_normal = o.num_clients - m;
  std::vector<ClassSet> unseen_sets;

  if (o.partition == "grouped") {
    std::vector<ClassSet> combos;
    for (int a = 0; a < m; ++a) {
      for (int b = a + 1; b < m; ++b)
        combos.push_back(Union(groups[a], groups[b]));
    }
    common::PairedShuffle(combos, rng);
    const size_t n_unseen = std::max<size_t>(
        1, static_cast<size_t>(std::llround(0.3 * combos.size())));
    unseen_sets.assign(combos.begin(), combos.begin() + n_unseen);
    std::vector<ClassSet> seen(combos.begin() + n_unseen, combos.end());
    for (int j = 0; j < num_normal; ++j) {
      split.clients[first_normal + j].classes = seen[j % seen.size()];
    }
    AssignByClassSets(labels, num_classes, split.clients, rng);
  } else if (o.partition == "grouped-random") {
    const size_t size = 2 * groups[0].size();
    std::set<ClassSet> held;
    for (int j = 0; j < num_normal; ++j) {
      ClassSet s = RandomSet(num_classes, size, rng);
      split.clients[first_normal + j].classes = s;
      held.insert(s);
    }
    unseen_sets =
        DrawUnheldSets(num_classes, size, held, o.num_unseen_eval, rng);
    AssignByClassSets(labels, num_classes, split.clients, rng);
  } else {
    auto spec = ParsePartitionSpec(o.partition);
    if (!spec.ok()) return spec.status();
    // Anchors take an average client's worth of their group's examples.
    std::vector<bool> taken(labels.size(), false);
    if (m > 0) {
      const int64_t per_client =
          static_cast<int64_t>(labels.size()) / o.num_clients;
      for (int q = 0; q < m; ++q) {
        auto idx = SampleByClass(labels, Uniform(groups[q], num_classes),
                                 per_client, o.seed * 31 + q);
        std::erase_if(idx, [&](int64_t i) { return taken[i]; });
        for (int64_t i : idx) taken[i] = true;
        split.clients[q].indices = idx;
      }
    }
    std::vector<int64_t> rest, rest_labels;
    for (size_t i = 0; i < labels.size(); ++i) {
      if (!taken[i]) {
        rest.push_back(static_cast<int64_t>(i));
        rest_labels.push_back(labels[i]);
      }
    }
    auto parts = Partition(rest_labels, num_classes, num_normal, *spec, o.seed);
    if (!parts.ok()) return parts.status();
    for (int j = 0; j < num_normal; ++j) {
      auto& c = split.clients[first_normal + j];
      for (int64_t r : (*parts)[j]) c.indices.push_back(rest[r]);
      std::set<int64_t> cls;
      for (int64_t i : c.indices) cls.insert(labels[i]);
      c.classes.assign(cls.begin(), cls.end());
    }
    std::set<ClassSet> held;
    for (int j = 0; j < num_normal; ++j)
      held.insert(split.clients[first_normal + j].classes);
    if (spec->kind == PartitionSpec::Kind::kClasses) {
      unseen_sets = DrawUnheldSets(num_classes, spec->classes_per_client, held,
                                   o.num_unseen_eval, rng);
    }
    if (spec->kind == PartitionSpec::Kind::kDirichlet) {
      std::gamma_distribution<double> gamma(spec->alpha, 1.0);
      for (int u = 0; u < o.num_unseen_eval; ++u) {
        std::vector<double> w(num_classes);
        double total = 0;
        for (double& v : w) total += (v = gamma(rng));
        for (double& v : w) v = total > 0 ? v / total : 1.0 / num_classes;
        split.eval_clients.push_back(
            {fmt::format("unseen-{}", u), EvalClientKind::kUnseen, w});
      }
    }
    if (spec->kind == PartitionSpec::Kind::kIid) {
      split.eval_clients.push_back(
          {"unseen-0", EvalClientKind::kUnseen,
           std::vector<double>(num_classes, 1.0 / num_classes)});
    }
  }
  for (auto& c : split.clients) std::sort(c.indices.begin(), c.indices.end());
  for (int j = 0; j < std::min(o.num_seen_eval, num_normal); ++j) {
    split.eval_clients.push_back(
        {fmt::format("seen-{}", first_normal + j), EvalClientKind::kSeen,
         Histogram(labels, split.clients[first_normal + j].indices,
                   num_classes)});
  }
  for (size_t u = 0; u < unseen_sets.size(); ++u) {
    split.eval_clients.push_back({fmt::format("unseen-{}", u),
                                  EvalClientKind::kUnseen,
                                  Uniform(unseen_sets[u], num_classes)});
  }
  for (size_t k = 0; k < split.clients.size(); ++k) {
    if (split.clients[k].indices.empty()) {
      return InvalidArgument(fmt::format(
          "partition '{}' leaves client {} without examples; use fewer "
          "clients",
          o.partition, k));
    }
  }
  return split;
}

}  // namespace federation_internal
}  // namespace fedjets::common
