// FedJETs zero-shot serving (common/learn/moe.h trains the models): a
// client that never trained picks its experts from its unlabelled data and
// predicts with them, with no label and no gradient step. Beyond the
// paper (issue #14, off by default): the gate-weighted mixture at serving
// (soft serving), and the client's expert prior estimated by EM label-shift
// correction with K chosen by the prior mass it covers.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "common/learn/moe.h"

namespace fedjets::common {

struct ServeOptions {
  // false (the paper): each sample goes to the candidate the gate scores
  // highest. true: the gate-weighted mixture of the candidates' class
  // probabilities (weights: softmax of the gate logits restricted to the
  // candidates), as normal clients train.
  bool mixture = false;
  // 0 (the paper): the candidates are the top-k specialists of the mean
  // gate softmax. In (0, 1]: the client's expert prior is estimated by EM
  // (EmPrior), K grows over the specialists by that prior until they cover
  // `mass` of it, at most max_k (0: all), and each sample's gate scores are
  // corrected for that prior (logit + log(prior / training prior)).
  double mass = 0;
  int max_k = 0;
  // With a generalist: kGateWeighsGeneralist (the gate weighs it like
  // the candidates), or its fixed weight W in [0, 1) as in training
  // (MixtureWeights): the selected specialists share 1 - W by the gate.
  // Hard serving then takes the candidate of largest weight, so the
  // generalist serves a sample when W exceeds (1 - W) times the best
  // specialist's share.
  double generalist_weight = kGateWeighsGeneralist;
  // true: the served class probabilities (the chosen candidate's, or the
  // mixture's) are corrected for the client's class prior, estimated from
  // them by the same EM (LabelShiftPredictions, common/learn/label_shift.h),
  // as FedAvg's --serve-label-shift baseline does. No label is used.
  bool label_shift = false;
};

// EM label-shift correction (Saerens, Latinne and Decaestecker 2002):
// `posteriors` [N, M] were computed under the training prior `train`
// [M]; returns the prior [M] of the N samples, the fixed point of
// prior' = mean_i normalise(posteriors[i] * prior / train), started at
// `train` (so the first iterate is the mean posterior). Stops when no
// entry moves by more than `tolerance`, or after `max_iterations`.
struct EmPrior {
  torch::Tensor prior;  // [M], float64, sums to 1
  int iterations = 0;
};
EmPrior EstimatePrior(const torch::Tensor& posteriors,
                      const torch::Tensor& train, int max_iterations = 1000,
                      double tolerance = 1e-7);

// The fewest experts, by decreasing `prior` [M], whose prior sums to at
// least `mass`; at most max_k of them (0: no cap), at least one. Ties keep
// the lower id first.
std::vector<int> ExpertsCoveringMass(const torch::Tensor& prior, double mass,
                                     int max_k);

// The training prior the gate's posteriors are taken under: uniform over
// the M specialists (our choice: every expert has one anchor and, over the
// federation, normal clients' data covers the groups about evenly).
torch::Tensor UniformPrior(int64_t experts);

// Gate-weighted mixture: sum_k weights[:, k] * softmax(experts[ids[k]](x))
// [N, C]. weights [N, K], one column per id.
torch::Tensor MixtureProbabilities(const std::vector<ClassifierImpl*>& experts,
                                   const std::vector<int>& ids,
                                   const torch::Tensor& x,
                                   const torch::Tensor& weights);

struct JitPrediction {
  std::vector<int> selected;  // the client's specialists, best first
  // [N] expert used per sample; with `mixture`, the candidate with the
  // largest weight.
  torch::Tensor chosen;
  // [N] the selected specialist the gate scores highest per sample: where
  // the sample was routed (= chosen without a generalist).
  torch::Tensor routed;
  torch::Tensor predictions;  // [N] class per sample
};

// Predicts sample i with expert chosen[i] ([N] expert ids; each chosen
// expert must be set). No gradient step.
torch::Tensor PredictByExpert(const std::vector<ClassifierImpl*>& experts,
                              const torch::Tensor& x,
                              const torch::Tensor& chosen);

// The specialists a client serving from embeddings `z` asks for: the top
// k of the mean gate softmax, or those covering serve.mass of its EM
// prior. Best first.
std::vector<int> ServingExperts(GateImpl& gate, const torch::Tensor& z, int k,
                                bool generalist, const ServeOptions& serve);

// Zero-shot prediction: pick the specialists from the unlabeled data
// (ServingExperts), then predict each sample with the candidate of largest
// mixture weight (MixtureWeights: the one the gate scores highest unless
// serve.generalist_weight is set), or their mixture (serve.mixture): the
// selected specialists, and the generalist (expert M) when there is one.
// `experts[id]` must be set for every candidate (others may be null). No
// label, no gradient step.
JitPrediction JitPredict(GateImpl& gate,
                         const std::vector<ClassifierImpl*>& experts,
                         const torch::Tensor& x, const torch::Tensor& z, int k,
                         bool generalist = false,
                         const ServeOptions& serve = {});

}  // namespace fedjets::common
