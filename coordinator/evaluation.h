// Evaluation helpers shared by the strategies: the held-out evaluation
// clients (seen and unseen label mixes), scoring a predictor on them, the
// common-expert pretraining and the fine-tuning reference baselines.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/dataset.h"
#include "common/federation_split.h"
#include "common/model.h"
#include "common/moe.h"
#include "common/training.h"

namespace fedjets::coordinator {

struct EvalClient {
  std::string name;
  bool unseen = false;
  std::vector<int64_t> classes;  // classes with positive weight
  common::TensorData test;       // drawn from the test split
  common::TensorData train;      // labelled local data for fine-tuning
};

// Test and train examples for each evaluation client of the split.
std::vector<EvalClient> BuildEvalClients(const common::TrainTest& data,
                                         const common::FederationSplit& split,
                                         int64_t examples_per_client,
                                         uint64_t seed);

// Scores `predict` (returns class ids [N] for a client) on every client:
// {"seen_accuracy", "unseen_accuracy", "clients": [...]}. `describe` may
// add fields per client (e.g. the experts it picked).
nlohmann::json ScoreClients(
    const std::vector<EvalClient>& clients,
    const std::function<torch::Tensor(const EvalClient&, nlohmann::json&)>&
        predict);

// Where the common expert comes from (--common-expert).
struct CommonExpertSource {
  // Pretrained by the coordinator on the last `examples` training examples
  // for `epochs` epochs ("weak", "strong", "examples:N:epochs:E").
  int64_t examples = 0;
  int epochs = 0;
  // Loaded from a saved model ("file:PATH"), e.g. a FedAvg run's model.pt.
  std::string file;
  bool none() const { return examples == 0 && file.empty(); }
};

// Parses --common-expert: "none", "weak", "strong", "examples:N:epochs:E"
// or "file:PATH".
common::Result<CommonExpertSource> ParseCommonExpert(const std::string& text);

// A model of `spec` with the parameters saved at `path` (torch::save of a
// classifier, as fedjets-coordinator writes model.pt); an error names the
// file and what it should hold.
common::Result<common::Classifier> LoadCommonExpert(
    const common::ModelSpec& spec, const std::string& path);

// Trains a fresh model on the last `examples` training examples for
// `epochs` epochs (SGD momentum 0.9, lr 0.05, batch 64). With a cache_dir,
// first looks for a model pretrained from the same examples, spec, epochs
// and seed there (common-expert-<sha256>.pt), and saves a new one there.
common::Result<common::Classifier> PretrainCommonExpert(
    const common::ModelSpec& spec, const common::Dataset& train,
    int64_t examples, int epochs, uint64_t seed,
    const std::string& cache_dir = "");

// The expert whose anchor holds each class (anchor_classes[q] are expert
// q's), -1 for classes no anchor holds.
std::vector<int64_t> ClassOwners(
    const std::vector<std::vector<int64_t>>& anchor_classes,
    int64_t num_classes);

// A reference for the FedJETs gate, not a method (it needs every label):
// a gate trained centrally on the common expert's embeddings of the whole
// labelled training split, each example's target the expert whose anchor
// holds its class (Adam lr 1e-3, batch 256, `epochs` epochs). Its routing
// accuracy is what a gate on these embeddings reaches at best.
common::Result<common::Gate> TrainReferenceGate(
    common::ClassifierImpl& common_expert, const common::Dataset& train,
    const std::vector<std::vector<int64_t>>& anchor_classes,
    int64_t gate_hidden, int epochs, uint64_t seed);

// A copy of `model` fine-tuned on the client's own labelled data.
common::Classifier FineTuned(common::ClassifierImpl& model,
                             const common::ModelSpec& spec,
                             const EvalClient& client, int epochs,
                             uint64_t seed);

// Copies parameters from one model to another of the same spec.
void CopyWeights(common::ClassifierImpl& from, common::ClassifierImpl& to);

}  // namespace fedjets::coordinator
