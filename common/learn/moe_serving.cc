#include "common/learn/moe_serving.h"

#include <algorithm>
#include <numeric>

#include "common/learn/label_shift.h"

namespace fedjets::common {
namespace {

// The specialists a client is served, and with an EM prior the shift
// log(prior / training prior) [M] its gate logits get (undefined without).
struct Selection {
  std::vector<int> ids;
  torch::Tensor shift;
};

Selection Select(GateImpl& gate, const torch::Tensor& z, int k, bool generalist,
                 const ServeOptions& serve) {
  if (serve.mass <= 0) return {SelectExperts(gate, z, k, generalist), {}};
  torch::NoGradGuard no_grad;
  gate.eval();
  torch::Tensor posteriors =
      torch::softmax(SpecialistLogits(gate, z, generalist), /*dim=*/1);
  const torch::Tensor train = UniformPrior(posteriors.size(1));
  const EmPrior em = EstimatePrior(posteriors, train);
  Selection s;
  s.ids = ExpertsCoveringMass(em.prior, serve.mass, serve.max_k);
  s.shift = torch::log(em.prior.clamp_min(1e-12) / train).to(torch::kFloat32);
  return s;
}

}  // namespace

EmPrior EstimatePrior(const torch::Tensor& posteriors,
                      const torch::Tensor& train, int max_iterations,
                      double tolerance) {
  torch::NoGradGuard no_grad;
  const torch::Tensor p = posteriors.to(torch::kFloat64);
  const torch::Tensor t = train.to(torch::kFloat64);
  EmPrior out{t.clone(), 0};
  while (out.iterations < max_iterations) {
    torch::Tensor w = p * (out.prior / t);
    w = w / w.sum(/*dim=*/1, /*keepdim=*/true).clamp_min(1e-300);
    torch::Tensor next = w.mean(/*dim=*/0);
    next = next / next.sum();
    const double moved = (next - out.prior).abs().max().item<double>();
    out.prior = next;
    ++out.iterations;
    if (moved <= tolerance) break;
  }
  return out;
}

std::vector<int> ExpertsCoveringMass(const torch::Tensor& prior, double mass,
                                     int max_k) {
  const torch::Tensor p = prior.to(torch::kFloat64).contiguous();
  const int m = static_cast<int>(p.numel());
  std::vector<double> v(p.data_ptr<double>(), p.data_ptr<double>() + m);
  std::vector<int> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return v[a] > v[b]; });
  const int cap = max_k > 0 ? std::min(max_k, m) : m;
  std::vector<int> ids;
  double covered = 0;
  for (int q : order) {
    if (static_cast<int>(ids.size()) >= cap) break;
    if (!ids.empty() && covered >= mass - 1e-9) break;
    ids.push_back(q);
    covered += v[q];
  }
  return ids;
}

torch::Tensor UniformPrior(int64_t experts) {
  return torch::full({experts}, 1.0 / static_cast<double>(experts),
                     torch::kFloat64);
}

torch::Tensor MixtureProbabilities(const std::vector<ClassifierImpl*>& experts,
                                   const std::vector<int>& ids,
                                   const torch::Tensor& x,
                                   const torch::Tensor& weights) {
  torch::NoGradGuard no_grad;
  torch::Tensor mix;
  for (size_t k = 0; k < ids.size(); ++k) {
    torch::Tensor p = torch::softmax(Logits(*experts[ids[k]], x), /*dim=*/1) *
                      weights.select(1, static_cast<int64_t>(k)).unsqueeze(1);
    mix = mix.defined() ? mix + p : p;
  }
  return mix;
}

torch::Tensor PredictByExpert(const std::vector<ClassifierImpl*>& experts,
                              const torch::Tensor& x,
                              const torch::Tensor& chosen) {
  torch::NoGradGuard no_grad;
  torch::Tensor out = torch::zeros({x.size(0)}, torch::kInt64);
  for (size_t q = 0; q < experts.size(); ++q) {
    torch::Tensor rows =
        chosen.eq(static_cast<int64_t>(q)).nonzero().squeeze(1);
    if (rows.numel() == 0) continue;
    torch::Tensor pred = Logits(*experts[q], x.index_select(0, rows)).argmax(1);
    out.index_copy_(0, rows, pred);
  }
  return out;
}

std::vector<int> ServingExperts(GateImpl& gate, const torch::Tensor& z, int k,
                                bool generalist, const ServeOptions& serve) {
  return Select(gate, z, k, generalist, serve).ids;
}

JitPrediction JitPredict(GateImpl& gate,
                         const std::vector<ClassifierImpl*>& experts,
                         const torch::Tensor& x, const torch::Tensor& z, int k,
                         bool generalist, const ServeOptions& serve) {
  torch::NoGradGuard no_grad;
  JitPrediction out;
  Selection s = Select(gate, z, k, generalist, serve);
  out.selected = s.ids;
  torch::Tensor cols = torch::tensor(
      std::vector<int64_t>(out.selected.begin(), out.selected.end()));
  torch::Tensor logits = gate.forward(z);
  if (s.shift.defined()) {
    // The generalist's logit (the last, with one) keeps its value.
    torch::Tensor shift = s.shift;
    if (generalist) shift = torch::cat({shift, torch::zeros({1})});
    logits = logits + shift;
  }
  torch::Tensor best = logits.index_select(1, cols).argmax(1);
  out.routed = cols.index_select(0, best);
  out.chosen = out.routed;
  torch::Tensor candidates = cols;
  const int generalist_id =
      generalist ? static_cast<int>(logits.size(1)) - 1 : -1;
  if (generalist) {
    candidates =
        torch::cat({cols, torch::full({1}, generalist_id, torch::kInt64)});
  }
  std::vector<int> ids(candidates.data_ptr<int64_t>(),
                       candidates.data_ptr<int64_t>() + candidates.numel());
  const bool fixed = generalist && serve.generalist_weight >= 0;
  torch::Tensor w;
  if (serve.mixture || fixed) {
    w = MixtureWeights(logits, ids, generalist_id, serve.generalist_weight);
  }
  if (fixed) {
    out.chosen = candidates.index_select(0, w.argmax(1));
  } else if (generalist) {
    out.chosen = candidates.index_select(
        0, logits.index_select(1, candidates).argmax(1));
  }
  if (!serve.mixture && !serve.label_shift) {
    out.predictions = PredictByExpert(experts, x, out.chosen);
    return out;
  }
  if (!serve.mixture) {
    // Hard serving: all of each sample's weight on its chosen candidate.
    w = candidates.unsqueeze(0).eq(out.chosen.unsqueeze(1)).to(torch::kFloat32);
  }
  torch::Tensor probs = MixtureProbabilities(experts, ids, x, w);
  out.predictions =
      serve.label_shift
          ? LabelShiftPredictions(torch::log(probs.clamp_min(1e-30)))
          : probs.argmax(1);
  return out;
}

}  // namespace fedjets::common
