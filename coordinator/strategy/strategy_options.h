// What a coordinator's federated algorithm is told: the algorithm, the
// local training recipe sent to clients, the FedJETs settings, the common
// expert and the evaluation. Filled from flags by AddStrategyFlags
// (coordinator/coordinator_flags.h); header-only and dependency-free so
// that fedjets-sim can hold one too.
#pragma once

#include <cstdint>
#include <string>

namespace fedjets::coordinator {

struct StrategyOptions {
  std::string algorithm = "fedavg";  // fedavg, fedprox, fedjets
  // Common expert: "none", "weak", "strong", "examples:N:epochs:E" or
  // "file:PATH" (coordinator/common_expert.h).
  std::string common_expert = "none";
  // Folder of pretrained common experts, keyed by a hash of the training
  // examples, model, budget and seed; empty = pretrain every run.
  std::string common_expert_cache;
  std::string model_family = "auto";
  int64_t model_hidden = 128;
  uint64_t seed = 1;
  // Local recipe sent to clients.
  int local_epochs = 1;
  int batch_size = 64;
  double learning_rate = 0.01;
  double momentum = 0.9;
  double prox_mu = 0.0;
  // FedJETs.
  int num_experts = 5;
  int top_k = 2;
  int64_t gate_hidden = 64;
  double gate_lr = 0.1;
  // Gate learning rate of normal clients; < 0: gate_lr (the paper). 0
  // (the default, chosen on validation clients: docs/ALGORITHM.md): only
  // anchors train the gate, and it is averaged over them alone.
  double normal_gate_lr = 0;
  double anchor_gate_weight = 1.0;
  bool use_anchors = true;  // false: the no-anchor ablation
  // One more expert, trained by every sampled client every round and
  // averaged over all of them, always in every client's mixture and a
  // candidate at serving; the gate gets an M+1-th output for it.
  bool generalist_expert = false;
  // With generalist_expert: the generalist's fixed weight in every
  // mixture, in [0, 1), in training and serving; the K selected
  // specialists share the rest by the gate (common::MixtureWeights), so
  // the gate cannot move weight onto the generalist. -1
  // (common::kGateWeighsGeneralist): the gate weighs it.
  double generalist_weight = -1;
  // Weight of the supervised routing loss of normal clients: CE of the
  // gate towards the expert whose anchor holds each sample's class; 0 =
  // off. Needs the anchors' class sets (a simulated layout).
  double routing_loss = 0;
  // With routing_loss > 0: normal clients train the gate by the routing
  // loss alone, not by the mixture loss (common::RoutingLoss::gate_only).
  bool routing_only_gate = false;
  // Zero-shot serving (evaluation clients and fedjets-client --serve):
  // the gate-weighted mixture of the candidates instead of each sample's
  // highest-scoring one; and, with serve_mass > 0, the client's experts
  // are those covering serve_mass of its EM-estimated expert prior (at
  // most serve_max_k, 0 = all M) instead of the top-K
  // (common/learn/moe_serving.h). The defaults are the recipe chosen on
  // validation clients (docs/ALGORITHM.md); the paper's is hard serving
  // of the top-K: serve_mixture false, serve_mass 0.
  bool serve_mixture = true;
  double serve_mass = 0.97;
  int serve_max_k = 5;
  // Correct each evaluation client's predictions for its class prior,
  // estimated from its unlabelled samples by EM
  // (common/learn/label_shift.h): FedAvg/FedProx's model, or FedJETs'
  // served class probabilities (ServeOptions::label_shift).
  bool serve_label_shift = false;
  // Evaluation clients: test examples per client.
  int64_t eval_examples_per_client = 500;
  int64_t eval_examples = 0;  // cap on the global test split (0 = all)
  int finetune_epochs = 5;    // local/oracle baselines
  // After the last round, also score the reference methods (common expert
  // alone, local fine-tuning, and for fedavg/fedprox the fine-tune oracle).
  bool baselines = false;
  // How updates are folded together (docs/OPERATIONS.md, "Robust
  // aggregation"): "mean" (sample-weighted, FedAvg), or the unweighted
  // coordinate-wise "median" or "trimmed-mean", per expert and for the gate
  // in FedJETs.
  std::string aggregation = "mean";
  double trim_fraction = 0.2;  // trimmed-mean: share dropped at each end
  // Fold each accepted update into a running sum as it arrives
  // (common::StreamingMean) instead of holding the round's updates until
  // it ends: fedavg/fedprox with the mean and no clipping. The compensated
  // sum does not depend on the arrival order, but may differ from the
  // default's arithmetic in a value's last bit, so it is not the default.
  bool streaming_aggregation = false;
  // L2 norm each client's update delta (sent minus received parameters) is
  // clipped to before aggregation; 0 = no clipping.
  double clip_norm = 0;
  // Central differential privacy: Gaussian noise of standard deviation
  // dp_noise_multiplier * clip_norm / (updates aggregated) added to each
  // aggregate; 0 = none. Needs clip_norm.
  double dp_noise_multiplier = 0;
  // Update validation (coordinator/validation.h): the most samples an
  // Update may claim (kMaxClientSamples), the largest L2 norm of its delta
  // (0 = unbounded), and whether updates are checked at all (false only for
  // experiments that show what the checks prevent).
  int64_t max_update_samples = 1'000'000'000;
  double max_update_norm = 0;
  bool update_checks = true;

  friend bool operator==(const StrategyOptions&,
                         const StrategyOptions&) = default;
};

}  // namespace fedjets::coordinator
