// FedJETs mixture-of-experts pieces (arXiv 2306.08586): the gating network
// over common-expert embeddings, the two local training procedures (anchor
// and normal clients) and just-in-time zero-shot prediction.
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

struct MoeOptions {
  int num_experts = 5;
  int top_k = 2;
  int64_t gate_hidden = 64;
  double gate_lr = 0.1;             // plain SGD, as in the paper (tuned lr)
  double anchor_gate_weight = 1.0;  // weight of the anchor's gate loss
};

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
                       int64_t batch_size = 1024);

// Gate softmax averaged over all samples [M].
torch::Tensor MeanGateScores(GateImpl& gate, const torch::Tensor& z);

// The client's expert set: top-k of the mean softmax, best first.
std::vector<int> SelectExperts(GateImpl& gate, const torch::Tensor& z, int k);

// Anchor client: trains its expert with cross-entropy and the gate towards
// the one-hot target `expert_id` (weight gate_weight), with separate
// optimizers (experts: SGD momentum; gate: plain SGD at gate_lr).
Result<TrainStats> TrainAnchor(ClassifierImpl& expert, GateImpl& gate,
                               int expert_id, const TensorData& data,
                               const torch::Tensor& z, const TrainOptions& o,
                               double gate_lr, double gate_weight);

// Normal client: trains the gate and its K experts with cross-entropy on
// the gate-weighted mixture of the experts' class probabilities (weights:
// softmax of the gate logits restricted to `ids`).
Result<TrainStats> TrainMixture(const std::vector<ClassifierImpl*>& experts,
                                const std::vector<int>& ids, GateImpl& gate,
                                const TensorData& data, const torch::Tensor& z,
                                const TrainOptions& o, double gate_lr);

struct JitPrediction {
  std::vector<int> selected;  // the client's top-k experts
  torch::Tensor chosen;       // [N] expert used per sample
  torch::Tensor predictions;  // [N] class per sample
};

// Predicts sample i with expert chosen[i] ([N] expert ids; each chosen
// expert must be set). No gradient step.
torch::Tensor PredictByExpert(const std::vector<ClassifierImpl*>& experts,
                              const torch::Tensor& x,
                              const torch::Tensor& chosen);

// Zero-shot prediction: pick the top-k experts from the unlabeled data,
// then predict each sample with the selected expert the gate scores
// highest for it. `experts[id]` must be set for every selected id (others
// may be null). No gradient step.
JitPrediction JitPredict(GateImpl& gate,
                         const std::vector<ClassifierImpl*>& experts,
                         const torch::Tensor& x, const torch::Tensor& z, int k);

// Mean entropy (nats) of the per-sample gate softmax.
double GateEntropy(GateImpl& gate, const torch::Tensor& z);

}  // namespace fedjets::common
