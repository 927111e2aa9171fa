// FedJETs mixture-of-experts pieces (arXiv 2306.08586): the gating network
// over common-expert embeddings, the two local training procedures (anchor
// and normal clients); zero-shot serving is in common/learn/moe_serving.h.
//
// Experts are Classifiers of the common expert's architecture; the gate
// sees only z = common.Embed(x), computed once per client. Functions run on
// the calling thread; modules are not thread-safe.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "common/learn/model.h"
#include "common/learn/training.h"

namespace fedjets::common {

// Two-layer MLP scoring the experts; forward returns logits [B, M].
class GateImpl : public torch::nn::Module {
 public:
  GateImpl(int64_t embedding, int64_t hidden, int64_t experts);
  torch::Tensor forward(torch::Tensor z);

 private:
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(Gate);

// How the FedJETs models are named inside one wire parameter list; the
// coordinator and the clients must agree, so both use these.
inline constexpr char kGateWirePrefix[] = "gate.";
inline constexpr char kCommonWirePrefix[] = "common.";
std::string ExpertWirePrefix(int expert);  // "expert.<q>."
// Expert q's parameters named for the wire ("expert.<q>.<name>").
ParameterList ExpertWire(ClassifierImpl& expert, int q);

// Penultimate features of the frozen common expert, without gradients.
torch::Tensor EmbedAll(ClassifierImpl& common, const torch::Tensor& x,
                       int64_t batch_size = kInferenceBatch);

// With a generalist expert (--generalist-expert) the gate has M + 1
// outputs: the M specialists, then the generalist (expert id M). The
// generalist is never selected (top-K stays over the specialists); it is
// in every client's mixture and a candidate for every served sample.
// `generalist` below says whether the gate's last output is it.

// The gate's logits over the specialists only [B, M]: all of them without
// a generalist, all but the last with one.
torch::Tensor SpecialistLogits(GateImpl& gate, const torch::Tensor& z,
                               bool generalist);

// Gate softmax over the specialists, averaged over all samples [M].
torch::Tensor MeanGateScores(GateImpl& gate, const torch::Tensor& z,
                             bool generalist = false);

// The client's expert set: top-k specialists of the mean softmax, best
// first.
std::vector<int> SelectExperts(GateImpl& gate, const torch::Tensor& z, int k,
                               bool generalist = false);

// Supervised routing (--routing-loss): a client that holds labels adds
// weight * CE(specialist logits, class_experts[y]) to its loss, the target
// the expert whose anchor holds the sample's class. Classes no anchor
// holds (class_experts[c] = -1) add nothing. Off when weight is 0.
// With gate_only (--routing-only-gate), the gate learns from this loss
// alone: the mixture's weights are taken from the gate's logits detached,
// so the mixture loss trains the experts but not the gate, as the
// reference gate is trained centrally (docs/ALGORITHM.md).
struct RoutingLoss {
  double weight = 0;
  std::vector<int64_t> class_experts;  // [num_classes]: expert id or -1
  bool gate_only = false;
};

// weight * the mean routing cross-entropy of the samples whose class has an
// expert (a scalar; 0 when none has), over the specialist logits [B, M].
torch::Tensor RoutingCrossEntropy(const torch::Tensor& specialist_logits,
                                  const torch::Tensor& y,
                                  const RoutingLoss& routing);

// Anchor client: trains its expert with cross-entropy and the gate towards
// the one-hot target `expert_id` over the specialists (weight gate_weight),
// with separate optimizers (experts: SGD momentum; gate: plain SGD at
// gate_lr). A `generalist`, when given, trains beside the expert with its
// own cross-entropy (and the gate's last output is its, untouched here).
Result<TrainStats> TrainAnchor(ClassifierImpl& expert, GateImpl& gate,
                               int expert_id, const TensorData& data,
                               const torch::Tensor& z, const TrainOptions& o,
                               double gate_lr, double gate_weight,
                               ClassifierImpl* generalist = nullptr);

// --generalist-weight off: the gate weighs the generalist like the others.
inline constexpr double kGateWeighsGeneralist = -1;

// The mixture weights [B, K] of the experts `ids`, columns of the gate
// logits [B, outputs], in the order of `ids`. Without a fixed generalist
// weight (generalist_weight = kGateWeighsGeneralist, or `generalist` -1 or
// not in `ids`): the softmax of the logits restricted to `ids`. With
// generalist_weight W in [0, 1) (--generalist-weight): the generalist's
// column is the constant W and the others share 1 - W by the softmax of
// their logits, so the gate cannot move weight onto the generalist and no
// gradient reaches its generalist output; with no other expert in `ids`
// the generalist's weight is 1.
torch::Tensor MixtureWeights(const torch::Tensor& gate_logits,
                             const std::vector<int>& ids, int generalist,
                             double generalist_weight);

// What a normal client's training adds to the plain mixture.
struct MixtureExtras {
  // The generalist's id in `ids` (the gate's last output), or -1: it is
  // in the mixture like the others and also trains on its own
  // cross-entropy, so that every client trains it as FedAvg would.
  int generalist = -1;
  // Its fixed share of the mixture (MixtureWeights), in [0, 1); or
  // kGateWeighsGeneralist. Only with a generalist.
  double generalist_weight = kGateWeighsGeneralist;
  RoutingLoss routing;
};

// Normal client: trains the gate and its experts `ids` with cross-entropy
// on the gate-weighted mixture of the experts' class probabilities
// (weights: MixtureWeights, by default the softmax of the gate logits
// restricted to `ids`), plus what `extras` asks for.
Result<TrainStats> TrainMixture(const std::vector<ClassifierImpl*>& experts,
                                const std::vector<int>& ids, GateImpl& gate,
                                const TensorData& data, const torch::Tensor& z,
                                const TrainOptions& o, double gate_lr,
                                const MixtureExtras& extras = {});

// Mean entropy (nats) of the per-sample gate softmax.
double GateEntropy(GateImpl& gate, const torch::Tensor& z);

}  // namespace fedjets::common
