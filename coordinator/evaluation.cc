#include "coordinator/evaluation.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <optional>

#include "coordinator/training_recipes.h"

namespace fedjets::coordinator {

using common::Status;
using common::TensorData;

std::vector<EvalClient> BuildEvalClients(const common::TrainTest& data,
                                         const common::FederationSplit& split,
                                         int64_t per_client, uint64_t seed) {
  std::vector<EvalClient> out;
  uint64_t k = 0;
  // Validation clients draw from the validation slice alone.
  std::vector<int64_t> slice_labels;
  for (int64_t i : split.validation_indices) {
    slice_labels.push_back(data.train.labels[i]);
  }
  for (const auto& spec : split.eval_clients) {
    EvalClient c;
    c.name = spec.name;
    c.kind = spec.kind;
    for (size_t i = 0; i < spec.class_weights.size(); ++i) {
      if (spec.class_weights[i] > 0) c.classes.push_back(i);
    }
    if (spec.kind == common::EvalClientKind::kValidation) {
      auto idx = common::SampleByClass(slice_labels, spec.class_weights,
                                       per_client, seed * 7919 + k);
      ++k;
      for (int64_t& i : idx) i = split.validation_indices[i];
      if (idx.empty()) continue;
      c.test = common::ToTensors(common::Subset(data.train, idx));
      out.push_back(std::move(c));
      continue;
    }
    auto test_idx = common::SampleByClass(data.test.labels, spec.class_weights,
                                          per_client, seed * 7919 + k);
    auto train_idx = common::SampleByClass(
        data.train.labels, spec.class_weights, per_client, seed * 104729 + k);
    ++k;
    if (test_idx.empty()) continue;
    c.test = common::ToTensors(common::Subset(data.test, test_idx));
    c.train = common::ToTensors(common::Subset(data.train, train_idx));
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

// Mean accuracy over the clients of each kind.
class MeanByKind {
 public:
  // The client's accuracy with predictions `pred`, added to its mean.
  double Add(const EvalClient& c, const torch::Tensor& pred) {
    const double acc =
        pred.eq(c.test.y).to(torch::kFloat64).mean().item<double>();
    const auto kind = static_cast<size_t>(c.kind);
    sum_[kind] += acc;
    ++n_[kind];
    return acc;
  }
  SplitAccuracy Means() const {
    SplitAccuracy a;
    a.seen = Mean(common::EvalClientKind::kSeen);
    a.unseen = Mean(common::EvalClientKind::kUnseen);
    a.validation = Mean(common::EvalClientKind::kValidation);
    return a;
  }

 private:
  std::optional<double> Mean(common::EvalClientKind kind) const {
    const auto k = static_cast<size_t>(kind);
    if (n_[k] == 0) return std::nullopt;
    return sum_[k] / n_[k];
  }

  double sum_[3] = {0, 0, 0};
  int n_[3] = {0, 0, 0};
};

}  // namespace

ClientScores ScoreClients(
    const std::vector<EvalClient>& clients,
    const std::function<torch::Tensor(const EvalClient&, ClientAccuracy&)>&
        predict) {
  ClientScores out;
  MeanByKind mean;
  for (const auto& c : clients) {
    ClientAccuracy info;
    info.name = c.name;
    info.kind = c.kind;
    info.labels = c.classes;
    torch::Tensor pred = predict(c, info);
    info.accuracy = mean.Add(c, pred);
    out.clients.push_back(std::move(info));
  }
  out.accuracy = mean.Means();
  return out;
}

SplitAccuracy UnscoredReference(const Status& error) {
  spdlog::error("reference method not scored: {}", error.message());
  SplitAccuracy a;
  a.error = error.message();
  return a;
}

SplitAccuracy ScoreReference(
    const std::vector<EvalClient>& clients,
    const std::function<common::Result<torch::Tensor>(const EvalClient&)>&
        predict) {
  MeanByKind mean;
  for (const auto& c : clients) {
    if (c.kind == common::EvalClientKind::kValidation) continue;
    auto pred = predict(c);
    if (!pred.ok()) return UnscoredReference(pred.status());
    mean.Add(c, *pred);
  }
  return mean.Means();
}

std::vector<int64_t> ClassOwners(
    const std::vector<std::vector<int64_t>>& anchor_classes,
    int64_t num_classes) {
  std::vector<int64_t> owner(num_classes, -1);
  for (size_t q = 0; q < anchor_classes.size(); ++q) {
    for (int64_t c : anchor_classes[q]) owner.at(c) = static_cast<int64_t>(q);
  }
  return owner;
}

common::Result<common::Gate> TrainReferenceGate(
    common::ClassifierImpl& common_expert, const common::Dataset& train,
    const std::vector<std::vector<int64_t>>& anchor_classes,
    int64_t gate_hidden, int epochs, uint64_t seed) {
  if (anchor_classes.empty()) {
    return common::InvalidArgument("the reference gate needs anchors");
  }
  const std::vector<int64_t> owner =
      ClassOwners(anchor_classes, train.num_classes);
  std::vector<int64_t> keep;  // examples of classes some anchor holds
  for (int64_t i = 0; i < train.size(); ++i) {
    if (owner[train.labels[i]] >= 0) keep.push_back(i);
  }
  if (keep.empty())
    return common::InvalidArgument("no anchor class has examples");
  TensorData data = common::ToTensors(common::Subset(train, keep));
  torch::Tensor z = common::EmbedAll(common_expert, data.x);
  torch::Tensor target = torch::tensor(owner).index_select(0, data.y);
  torch::manual_seed(seed);
  common::Gate gate(z.size(1), gate_hidden,
                    static_cast<int64_t>(anchor_classes.size()));
  const common::TrainOptions o = kReferenceGateRecipe.For(epochs, seed);
  torch::optim::Adam opt(gate->parameters(),
                         torch::optim::AdamOptions(o.learning_rate));
  gate->train();
  auto trained = common::RunEpochs(z.size(0), o, [&](const torch::Tensor& idx) {
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(
        gate->forward(z.index_select(0, idx)), target.index_select(0, idx));
    loss.backward();
    opt.step();
    return loss.item<double>();
  });
  if (!trained.ok()) return trained.status();
  gate->eval();
  return gate;
}

common::Result<common::Classifier> FineTuned(common::ClassifierImpl& model,
                                             const common::ModelSpec& spec,
                                             const EvalClient& client,
                                             int epochs, uint64_t seed) {
  const std::string what =
      fmt::format("fine-tuning for evaluation client '{}'", client.name);
  auto copy = common::MakeClassifier(spec, seed);
  if (!copy.ok()) return copy.status().Annotate(what);
  if (Status st = common::CopyWeights(model, **copy); !st.ok()) {
    return st.Annotate(what);
  }
  auto trained = common::TrainLocal(**copy, client.train,
                                    kFineTuningRecipe.For(epochs, seed));
  if (!trained.ok()) return trained.status().Annotate(what);
  return copy;
}

SplitAccuracy ScoreFineTuned(const std::vector<EvalClient>& clients,
                             common::ClassifierImpl& start,
                             const common::ModelSpec& spec, int epochs,
                             uint64_t seed) {
  return ScoreReference(
      clients, [&](const EvalClient& c) -> common::Result<torch::Tensor> {
        auto tuned = FineTuned(start, spec, c, epochs, seed);
        if (!tuned.ok()) return tuned.status();
        return common::Logits(**tuned, c.test.x).argmax(1);
      });
}

}  // namespace fedjets::coordinator
