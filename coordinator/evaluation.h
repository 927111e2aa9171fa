// Evaluation helpers shared by the strategies: the held-out evaluation
// clients (seen and unseen label mixes, and validation clients cut from
// the training split), scoring a predictor on them, the reference gate
// and the fine-tuning reference baselines.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "common/data/dataset.h"
#include "common/data/federation_split.h"
#include "common/learn/model.h"
#include "common/learn/moe.h"
#include "common/learn/training.h"
#include "coordinator/metrics/events.h"

namespace fedjets::coordinator {

struct EvalClient {
  std::string name;
  common::EvalClientKind kind = common::EvalClientKind::kSeen;
  std::vector<int64_t> classes;  // classes with positive weight
  // What it is scored on: drawn from the test split, or for a validation
  // client from the split's validation slice of the training split.
  common::TensorData test;
  // Labelled local data for fine-tuning (none for a validation client:
  // the reference methods leave those out).
  common::TensorData train;
};

// Test and train examples for each evaluation client of the split.
std::vector<EvalClient> BuildEvalClients(const common::TrainTest& data,
                                         const common::FederationSplit& split,
                                         int64_t examples_per_client,
                                         uint64_t seed);

// Every client's accuracy and the means over seen, unseen and validation
// clients.
struct ClientScores {
  SplitAccuracy accuracy;
  std::vector<ClientAccuracy> clients;
};

// Scores `predict` (returns class ids [N] for a client) on every client.
// `predict` may fill in more of the client's score (e.g. the experts it
// picked).
ClientScores ScoreClients(
    const std::vector<EvalClient>& clients,
    const std::function<torch::Tensor(const EvalClient&, ClientAccuracy&)>&
        predict);

// Scores a reference method (an entry of the `baselines` event) on every
// seen and unseen client (validation clients are for tuning the federated
// method, and have no fine-tuning data). When `predict` fails for a client the
// method has no number: UnscoredReference(the error).
SplitAccuracy ScoreReference(
    const std::vector<EvalClient>& clients,
    const std::function<common::Result<torch::Tensor>(const EvalClient&)>&
        predict);

// The entry of a reference method that could not be scored because of
// `error` (SplitAccuracy::error); logs the error.
SplitAccuracy UnscoredReference(const common::Status& error);

// The fine-tuning reference: `start` fine-tuned on each client's own
// labelled data (FineTuned), scored by ScoreReference.
SplitAccuracy ScoreFineTuned(const std::vector<EvalClient>& clients,
                             common::ClassifierImpl& start,
                             const common::ModelSpec& spec, int epochs,
                             uint64_t seed);

// The expert whose anchor holds each class (anchor_classes[q] are expert
// q's), -1 for classes no anchor holds.
std::vector<int64_t> ClassOwners(
    const std::vector<std::vector<int64_t>>& anchor_classes,
    int64_t num_classes);

// A reference for the FedJETs gate, not a method (it needs every label):
// a gate trained centrally on the common expert's embeddings of the whole
// labelled training split, each example's target the expert whose anchor
// holds its class (kReferenceGateRecipe of coordinator/training_recipes.h
// for `epochs` epochs). Its routing
// accuracy is what a gate on these embeddings reaches at best.
common::Result<common::Gate> TrainReferenceGate(
    common::ClassifierImpl& common_expert, const common::Dataset& train,
    const std::vector<std::vector<int64_t>>& anchor_classes,
    int64_t gate_hidden, int epochs, uint64_t seed);

// A copy of `model` (of `spec`) fine-tuned on the client's own labelled
// data (kFineTuningRecipe for `epochs` epochs); an error, naming the
// client, if the copy cannot be built or trained.
common::Result<common::Classifier> FineTuned(common::ClassifierImpl& model,
                                             const common::ModelSpec& spec,
                                             const EvalClient& client,
                                             int epochs, uint64_t seed);

}  // namespace fedjets::coordinator
