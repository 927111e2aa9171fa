// Summarize(): groups loaded runs by setting and method and computes the
// numbers RESULTS.md shows. Only finished runs enter any mean.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "tools/report/report.h"

namespace fedjets::coordinator {
namespace {

constexpr const char* kTrainedOrder[] = {
    "fedjets", "fedjets+em", "fedavg", "fedavg+em", "fedprox", "fedprox+em"};
constexpr const char* kReferenceOrder[] = {"common", "local", "oracle"};

std::optional<double> MeanOf(const MethodRow* row, bool seen) {
  if (row == nullptr) return std::nullopt;
  const Stat& s = seen ? row->seen : row->unseen;
  if (s.n == 0) return std::nullopt;
  return s.mean;
}

// Methods of one setting in display order: the paper's three first, each
// followed by its EM-served variant, then any other label in first-seen
// order.
std::vector<std::string> TrainedMethods(
    const std::vector<const RunMetrics*>& runs) {
  std::vector<std::string> seen_order;
  for (const RunMetrics* r : runs) {
    if (std::find(seen_order.begin(), seen_order.end(), r->spec.method) ==
        seen_order.end()) {
      seen_order.push_back(r->spec.method);
    }
  }
  std::vector<std::string> out;
  for (const char* m : kTrainedOrder) {
    if (std::find(seen_order.begin(), seen_order.end(), m) != seen_order.end())
      out.push_back(m);
  }
  for (const std::string& m : seen_order) {
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  return out;
}

MethodRow TrainedRow(const std::string& method,
                     const std::vector<const RunMetrics*>& runs,
                     std::vector<std::string>* warnings,
                     const std::string& setting) {
  MethodRow row;
  row.method = method;
  std::vector<double> seen, unseen, validation, rounds, bytes, full;
  std::set<int64_t> seeds;
  for (const RunMetrics* r : runs) {
    if (r->spec.method != method) continue;
    if (!r->finished) {
      ++row.unfinished;
      continue;
    }
    ++row.seeds;
    if (r->seed && !seeds.insert(*r->seed).second) {
      warnings->push_back(fmt::format(
          "{}/{}: seed {} appears in more than one run ({}); they are "
          "averaged as if independent",
          setting, method, *r->seed, r->spec.dir));
    }
    if (r->seen_accuracy) seen.push_back(*r->seen_accuracy);
    if (r->unseen_accuracy) unseen.push_back(*r->unseen_accuracy);
    if (r->validation_accuracy) validation.push_back(*r->validation_accuracy);
    if (r->rounds) rounds.push_back(*r->rounds);
    if (r->bytes_per_client_round) bytes.push_back(*r->bytes_per_client_round);
    if (r->full_model_bytes) full.push_back(*r->full_model_bytes);
  }
  row.seen = ComputeStat(seen);
  row.unseen = ComputeStat(unseen);
  row.validation = ComputeStat(validation);
  row.rounds = ComputeStat(rounds);
  row.bytes_per_client_round = ComputeStat(bytes);
  row.full_model_bytes = ComputeStat(full);
  return row;
}

// A reference method's value per seed is the mean over the runs of that seed
// that report it (every method's run of a seed evaluates the same clients);
// the row is the mean/std over seeds. The oracle fine-tunes the FedAvg model,
// so it is taken from fedavg runs only.
MethodRow ReferenceRow(const std::string& name,
                       const std::vector<const RunMetrics*>& runs) {
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>>
      by_seed;
  for (const RunMetrics* r : runs) {
    if (!r->finished || (name == "oracle" && r->spec.method != "fedavg"))
      continue;
    auto it = r->baselines.find(name);
    if (it == r->baselines.end()) continue;
    std::string key = r->seed ? std::to_string(*r->seed) : r->spec.dir;
    if (it->second.seen) by_seed[key].first.push_back(*it->second.seen);
    if (it->second.unseen) by_seed[key].second.push_back(*it->second.unseen);
  }
  MethodRow row;
  row.method = name;
  row.reference = true;
  std::vector<double> seen, unseen;
  for (const auto& [seed, values] : by_seed) {
    if (!values.first.empty()) seen.push_back(ComputeStat(values.first).mean);
    if (!values.second.empty())
      unseen.push_back(ComputeStat(values.second).mean);
  }
  row.seeds = static_cast<int>(by_seed.size());
  row.seen = ComputeStat(seen);
  row.unseen = ComputeStat(unseen);
  return row;
}

void FillFedJetsNumbers(SettingSummary& s, const std::vector<RunMetrics>& all,
                        const std::vector<const RunMetrics*>& runs,
                        std::vector<std::string>* warnings) {
  auto row = [&](const std::string& m) -> const MethodRow* {
    for (const MethodRow& r : s.rows)
      if (r.method == m) return &r;
    return nullptr;
  };
  const MethodRow* fj = row("fedjets");
  const MethodRow* fa = row("fedavg");
  std::optional<double> fj_u = MeanOf(fj, false);
  if (fj_u) {
    if (auto c = MeanOf(row("common"), false)) s.gap_over_common = *fj_u - *c;
    if (auto a = MeanOf(fa, false)) s.gap_over_fedavg = *fj_u - *a;
    if (auto p = MeanOf(row("fedprox"), false)) s.gap_over_fedprox = *fj_u - *p;
    if (auto e = MeanOf(row("fedavg+em"), false))
      s.gap_over_fedavg_em = *fj_u - *e;
    auto a = MeanOf(fa, false);
    auto o = MeanOf(row("oracle"), false);
    if (a && o && std::abs(*o - *a) > 1e-9) {
      s.gap_closed = (*fj_u - *a) / (*o - *a);
    }
  }

  std::vector<double> routing, entropy, anchor_routed, ref_routing, ref_unseen,
      common_test;
  int64_t best_seed = 0;
  for (const RunMetrics* r : runs) {
    if (r->spec.method != "fedjets" || !r->finished) continue;
    if (r->routing_accuracy) routing.push_back(*r->routing_accuracy);
    if (r->gate_entropy) entropy.push_back(*r->gate_entropy);
    if (r->anchor_routed_accuracy)
      anchor_routed.push_back(*r->anchor_routed_accuracy);
    if (r->reference_routing_accuracy)
      ref_routing.push_back(*r->reference_routing_accuracy);
    if (r->reference_unseen_accuracy)
      ref_unseen.push_back(*r->reference_unseen_accuracy);
    if (r->common_expert_accuracy)
      common_test.push_back(*r->common_expert_accuracy);
    s.generalist_expert |= r->generalist_expert;
    if (r->num_experts && r->top_k) {
      if (s.num_experts &&
          (*s.num_experts != *r->num_experts || *s.top_k != *r->top_k)) {
        warnings->push_back(fmt::format(
            "{}: fedjets runs disagree on num_experts/top_k ({}); using the "
            "first run's",
            s.setting, r->spec.dir));
      } else {
        s.num_experts = r->num_experts;
        s.top_k = r->top_k;
      }
    }
    const bool has_maps = !r->expert_load.empty() || !r->confusion.empty();
    int64_t seed = r->seed.value_or(INT64_MAX);
    if (has_maps && (s.heatmap_run < 0 || seed < best_seed)) {
      s.heatmap_run = static_cast<int>(r - all.data());
      best_seed = seed;
    }
  }
  s.routing_accuracy = ComputeStat(routing);
  s.gate_entropy = ComputeStat(entropy);
  s.anchor_routed_accuracy = ComputeStat(anchor_routed);
  s.reference_routing_accuracy = ComputeStat(ref_routing);
  s.reference_unseen_accuracy = ComputeStat(ref_unseen);
  s.common_expert_accuracy = ComputeStat(common_test);

  if (fj && fj->bytes_per_client_round.n > 0 && fj->full_model_bytes.n > 0 &&
      fj->full_model_bytes.mean > 0) {
    const double full = fj->full_model_bytes.mean;
    s.bytes_ratio = fj->bytes_per_client_round.mean / (2 * full);
    if (s.num_experts && s.top_k && *s.num_experts > 0) {
      // The generalist is one expert more in the full model and in every
      // client's exchange.
      const int generalist = s.generalist_expert ? 1 : 0;
      const double m = *s.num_experts + generalist, k = *s.top_k + generalist;
      // A FedAvg model has the experts' architecture: its size is one
      // expert's, and what is left of the full FedJETs model is the gate.
      const double expert =
          fa && fa->full_model_bytes.n > 0 ? fa->full_model_bytes.mean : 0;
      if (expert > 0 && full > m * expert) {
        const double gate = full - m * expert;
        s.bytes_bound = (k * expert + gate) / (m * expert + gate);
      } else {
        s.bytes_bound = k / m;
        s.bound_assumes_tiny_gate = true;
      }
    }
  }
}

}  // namespace

void Summarize(Report& report) {
  report.settings.clear();
  std::vector<std::string> order;
  std::map<std::string, std::vector<const RunMetrics*>> by_setting;
  for (const RunMetrics& r : report.runs) {
    if (!by_setting.count(r.spec.setting)) order.push_back(r.spec.setting);
    by_setting[r.spec.setting].push_back(&r);
  }
  for (const std::string& setting : order) {
    const auto& runs = by_setting[setting];
    SettingSummary s;
    s.setting = setting;
    s.ablation = setting.rfind("ablation-", 0) == 0;
    for (const std::string& m : TrainedMethods(runs)) {
      s.rows.push_back(TrainedRow(m, runs, &report.warnings, setting));
      s.has_validation |= s.rows.back().validation.n > 0;
    }
    std::set<std::string> names;
    for (const RunMetrics* r : runs)
      for (const auto& [name, pair] : r->baselines) names.insert(name);
    std::vector<std::string> refs;
    for (const char* n : kReferenceOrder)
      if (names.erase(n)) refs.push_back(n);
    refs.insert(refs.end(), names.begin(), names.end());
    for (const std::string& n : refs) {
      MethodRow row = ReferenceRow(n, runs);
      if (row.seeds > 0) s.rows.push_back(std::move(row));
    }
    FillFedJetsNumbers(s, report.runs, runs, &report.warnings);
    report.settings.push_back(std::move(s));
  }
}

}  // namespace fedjets::coordinator
