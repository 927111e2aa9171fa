#include "coordinator/evaluation.h"

namespace fedjets::coordinator {

using common::TensorData;

std::vector<EvalClient> BuildEvalClients(const common::TrainTest& data,
                                         const common::FederationSplit& split,
                                         int64_t per_client, uint64_t seed) {
  std::vector<EvalClient> out;
  uint64_t k = 0;
  for (const auto& spec : split.eval_clients) {
    EvalClient c;
    c.name = spec.name;
    c.unseen = spec.unseen;
    for (size_t i = 0; i < spec.class_weights.size(); ++i) {
      if (spec.class_weights[i] > 0) c.classes.push_back(i);
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

ClientScores ScoreClients(
    const std::vector<EvalClient>& clients,
    const std::function<torch::Tensor(const EvalClient&, ClientAccuracy&)>&
        predict) {
  ClientScores out;
  double sum[2] = {0, 0};
  int n[2] = {0, 0};
  for (const auto& c : clients) {
    ClientAccuracy info;
    info.name = c.name;
    info.unseen = c.unseen;
    info.labels = c.classes;
    torch::Tensor pred = predict(c, info);
    const double acc = pred.eq(c.test.y).to(torch::kFloat64).mean().item<double>();
    info.accuracy = acc;
    out.clients.push_back(std::move(info));
    sum[c.unseen] += acc;
    ++n[c.unseen];
  }
  if (n[0]) out.accuracy.seen = sum[0] / n[0];
  if (n[1]) out.accuracy.unseen = sum[1] / n[1];
  return out;
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
  const std::vector<int64_t> owner = ClassOwners(anchor_classes, train.num_classes);
  std::vector<int64_t> keep;  // examples of classes some anchor holds
  for (int64_t i = 0; i < train.size(); ++i) {
    if (owner[train.labels[i]] >= 0) keep.push_back(i);
  }
  if (keep.empty()) return common::InvalidArgument("no anchor class has examples");
  TensorData data = common::ToTensors(common::Subset(train, keep));
  torch::Tensor z = common::EmbedAll(common_expert, data.x);
  torch::Tensor target = torch::tensor(owner).index_select(0, data.y);
  torch::manual_seed(seed);
  common::Gate gate(z.size(1), gate_hidden,
                    static_cast<int64_t>(anchor_classes.size()));
  common::TrainOptions o;
  o.local_epochs = epochs;
  o.batch_size = 256;
  o.learning_rate = 1e-3;
  o.seed = seed;
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

void CopyWeights(common::ClassifierImpl& from, common::ClassifierImpl& to) {
  torch::NoGradGuard no_grad;
  auto src = from.parameters();
  auto dst = to.parameters();
  for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
}

common::Classifier FineTuned(common::ClassifierImpl& model,
                             const common::ModelSpec& spec,
                             const EvalClient& client, int epochs,
                             uint64_t seed) {
  common::Classifier copy = *common::MakeClassifier(spec, seed);
  CopyWeights(model, *copy);
  common::TrainOptions o;
  o.local_epochs = epochs;
  o.batch_size = 32;
  o.learning_rate = 0.01;
  o.momentum = 0.9;
  o.seed = seed;
  (void)common::TrainLocal(*copy, client.train, o);
  return copy;
}

}  // namespace fedjets::coordinator
