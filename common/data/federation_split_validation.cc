// The validation clients of a federation split (SplitOptions::
// validation_fraction, issue #14's honest tuning): the slice cut off the
// training split before the layout is made, and the validation clients'
// label mixes. MakeFederationSplit is the entry point of
// common/data/federation_split.h.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "common/base/seeded_random.h"
#include "common/data/federation_layout.h"
#include "common/data/federation_split.h"
#include "common/data/partition.h"

namespace fedjets::common {
namespace {

using federation_internal::ClassSet;
using federation_internal::DrawUnheldSets;
using federation_internal::Uniform;

// The validation slice: per class, llround(fraction x its examples) of
// them, seeded; an error naming the flag when a class would give none to
// validation or none to training.
Result<std::vector<int64_t>> CutValidation(const std::vector<int64_t>& labels,
                                           int64_t num_classes, double fraction,
                                           uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int64_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(i);
  std::vector<int64_t> out;
  for (int64_t c = 0; c < num_classes; ++c) {
    auto& idx = by_class[c];
    if (idx.empty()) continue;
    const auto n = static_cast<int64_t>(idx.size());
    const auto take = static_cast<int64_t>(std::llround(fraction * n));
    if (take < 1 || take >= n) {
      return InvalidArgument(fmt::format(
          "--validation-fraction {} gives {} of class {}'s {} training "
          "examples to the validation clients: each class needs at least "
          "one for validation and one for training (change the fraction or "
          "use more data)",
          fraction, take, c, n));
    }
    common::PairedShuffle(idx, rng);
    out.insert(out.end(), idx.begin(), idx.begin() + take);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The label mixes of the validation clients, drawn as the unseen clients'
// are (SplitOptions::validation_fraction).
Result<std::vector<std::vector<double>>> ValidationMixes(
    const FederationSplit& split, int64_t num_classes, const SplitOptions& o,
    std::mt19937_64& rng) {
  const int n = o.num_validation_eval;
  std::vector<std::vector<double>> out;
  if (o.partition == "grouped") {
    std::vector<std::vector<double>> unseen;
    for (const auto& e : split.eval_clients) {
      if (e.kind == EvalClientKind::kUnseen) unseen.push_back(e.class_weights);
    }
    for (int v = 0; v < n && !unseen.empty(); ++v) {
      out.push_back(unseen[v % unseen.size()]);
    }
    return out;
  }
  size_t size = 0;
  if (o.partition == "grouped-random") {
    size = 2 * split.anchor_classes.at(0).size();
  } else {
    auto spec = ParsePartitionSpec(o.partition);
    if (!spec.ok()) return spec.status();
    if (spec->kind == PartitionSpec::Kind::kIid) {
      return std::vector<std::vector<double>>(
          n, std::vector<double>(num_classes, 1.0 / num_classes));
    }
    if (spec->kind == PartitionSpec::Kind::kDirichlet) {
      std::gamma_distribution<double> gamma(spec->alpha, 1.0);
      for (int v = 0; v < n; ++v) {
        std::vector<double> w(num_classes);
        double total = 0;
        for (double& x : w) total += (x = gamma(rng));
        for (double& x : w) x = total > 0 ? x / total : 1.0 / num_classes;
        out.push_back(std::move(w));
      }
      return out;
    }
    size = spec->classes_per_client;
  }
  std::set<ClassSet> held;
  for (const auto& c : split.clients) {
    if (c.anchor_expert < 0) held.insert(c.classes);
  }
  for (const auto& s : DrawUnheldSets(num_classes, size, held, n, rng)) {
    out.push_back(Uniform(s, num_classes));
  }
  return out;
}

}  // namespace

Result<FederationSplit> MakeFederationSplit(const std::vector<int64_t>& labels,
                                            int64_t num_classes,
                                            const SplitOptions& o) {
  const double f = o.validation_fraction;
  if (o.num_validation_eval < 0) {
    return InvalidArgument(fmt::format("--validation-clients {} must be >= 0",
                                       o.num_validation_eval));
  }
  if (!(f >= 0 && f < 1)) {
    return InvalidArgument(
        fmt::format("--validation-fraction {} must be in [0, 1)", f));
  }
  if (o.num_validation_eval > 0 && f == 0) {
    return InvalidArgument(
        fmt::format("--validation-clients {} needs a validation slice: "
                    "--validation-fraction > 0",
                    o.num_validation_eval));
  }
  if (f == 0) return federation_internal::MakeLayout(labels, num_classes, o);

  // Validation examples are cut first, with their own seeded stream, and
  // the layout is made over the rest exactly as without them.
  const uint64_t validation_seed = o.seed * 1000003 + 7;
  auto cut = CutValidation(labels, num_classes, f, validation_seed);
  if (!cut.ok()) return cut.status();
  std::vector<int64_t> pool, pool_labels;
  std::vector<bool> in_slice(labels.size(), false);
  for (int64_t i : *cut) in_slice[i] = true;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (in_slice[i]) continue;
    pool.push_back(static_cast<int64_t>(i));
    pool_labels.push_back(labels[i]);
  }
  auto split = federation_internal::MakeLayout(pool_labels, num_classes, o);
  if (!split.ok()) {
    return split.status().Annotate(fmt::format(
        "the {} training examples left after --validation-fraction {} cut "
        "{} for --validation-clients",
        pool.size(), f, cut->size()));
  }
  for (auto& c : split->clients) {
    for (int64_t& i : c.indices) i = pool[i];  // ascending stays ascending
  }
  split->validation_indices = std::move(*cut);
  std::mt19937_64 rng(validation_seed + 1);
  auto mixes = ValidationMixes(*split, num_classes, o, rng);
  if (!mixes.ok()) return mixes.status();
  if (static_cast<int>(mixes->size()) < o.num_validation_eval) {
    return InvalidArgument(fmt::format(
        "--validation-clients {}: partition '{}' leaves no label mix that no "
        "training client holds for them (found {}); use fewer validation "
        "clients or another layout",
        o.num_validation_eval, o.partition, mixes->size()));
  }
  for (size_t v = 0; v < mixes->size(); ++v) {
    split->eval_clients.push_back({fmt::format("validation-{}", v),
                                   EvalClientKind::kValidation,
                                   std::move((*mixes)[v])});
  }
  return split;
}

}  // namespace fedjets::common
