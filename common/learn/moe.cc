#include "common/learn/moe.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace fedjets::common {
namespace {

// The embeddings must be the local data's, row for row.
Status CheckEmbeddings(const TensorData& data, const torch::Tensor& z) {
  if (!z.defined() || z.size(0) != data.size()) {
    return Internal("embeddings do not match the local data");
  }
  return Status::Ok();
}

// A mini-batch: rows `idx` of the local data and of its embeddings.
struct Batch {
  torch::Tensor x, y, z;
};

Batch SelectRows(const TensorData& data, const torch::Tensor& z,
                 const torch::Tensor& idx) {
  return {data.x.index_select(0, idx), data.y.index_select(0, idx),
          z.index_select(0, idx)};
}

}  // namespace

std::string ExpertWirePrefix(int expert) {
  return fmt::format("expert.{}.", expert);
}

ParameterList ExpertWire(ClassifierImpl& expert, int q) {
  return WithPrefix(ExpertWirePrefix(q), ToWire(expert));
}

GateImpl::GateImpl(int64_t embedding, int64_t hidden, int64_t experts) {
  fc1_ = register_module("fc1", torch::nn::Linear(embedding, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, experts));
}

torch::Tensor GateImpl::forward(torch::Tensor z) {
  return fc2_(torch::relu(fc1_(z)));
}

torch::Tensor EmbedAll(ClassifierImpl& common, const torch::Tensor& x,
                       int64_t batch_size) {
  common.eval();
  return InBatches(x, batch_size,
                   [&](const torch::Tensor& b) { return common.Embed(b); });
}

torch::Tensor SpecialistLogits(GateImpl& gate, const torch::Tensor& z,
                               bool generalist) {
  torch::Tensor logits = gate.forward(z);
  return generalist ? logits.narrow(/*dim=*/1, 0, logits.size(1) - 1) : logits;
}

torch::Tensor MeanGateScores(GateImpl& gate, const torch::Tensor& z,
                             bool generalist) {
  torch::NoGradGuard no_grad;
  gate.eval();
  return torch::softmax(SpecialistLogits(gate, z, generalist), /*dim=*/1)
      .mean(/*dim=*/0);
}

std::vector<int> SelectExperts(GateImpl& gate, const torch::Tensor& z, int k,
                               bool generalist) {
  torch::Tensor scores = MeanGateScores(gate, z, generalist);
  k = std::min<int>(k, static_cast<int>(scores.size(0)));
  torch::Tensor top = std::get<1>(scores.topk(k));
  std::vector<int> ids;
  for (int i = 0; i < k; ++i) ids.push_back(top[i].item<int>());
  return ids;
}

torch::Tensor MixtureWeights(const torch::Tensor& gate_logits,
                             const std::vector<int>& ids, int generalist,
                             double generalist_weight) {
  const auto at = std::find(ids.begin(), ids.end(), generalist);
  if (generalist_weight == kGateWeighsGeneralist || generalist < 0 ||
      at == ids.end()) {
    torch::Tensor cols =
        torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()));
    return torch::softmax(gate_logits.index_select(1, cols), /*dim=*/1);
  }
  std::vector<int64_t> others;
  for (int id : ids) {
    if (id != generalist) others.push_back(id);
  }
  const int64_t rows = gate_logits.size(0);
  if (others.empty()) return torch::ones({rows, 1}, gate_logits.options());
  // The specialists' softmax, scaled to 1 - W, with the constant W put in
  // the generalist's place.
  torch::Tensor shared =
      (1 - generalist_weight) *
      torch::softmax(gate_logits.index_select(1, torch::tensor(others)), 1);
  const int64_t before = at - ids.begin();
  return torch::cat(
      {shared.narrow(1, 0, before),
       torch::full({rows, 1}, generalist_weight, gate_logits.options()),
       shared.narrow(1, before, shared.size(1) - before)},
      /*dim=*/1);
}

torch::Tensor RoutingCrossEntropy(const torch::Tensor& specialist_logits,
                                  const torch::Tensor& y,
                                  const RoutingLoss& routing) {
  torch::Tensor target =
      torch::tensor(routing.class_experts, torch::kInt64).index_select(0, y);
  torch::Tensor rows = target.ge(0).nonzero().squeeze(1);
  if (rows.numel() == 0) return torch::zeros({});
  return routing.weight * torch::nn::functional::cross_entropy(
                              specialist_logits.index_select(0, rows),
                              target.index_select(0, rows));
}

Result<TrainStats> TrainAnchor(ClassifierImpl& expert, GateImpl& gate,
                               int expert_id, const TensorData& data,
                               const torch::Tensor& z, const TrainOptions& o,
                               double gate_lr, double gate_weight,
                               ClassifierImpl* generalist) {
  FEDJETS_RETURN_IF_ERROR(CheckEmbeddings(data, z));
  std::vector<torch::Tensor> params = expert.parameters();
  if (generalist) {
    for (auto& p : generalist->parameters()) params.push_back(p);
    generalist->train();
  }
  torch::optim::SGD expert_opt(
      params, torch::optim::SGDOptions(o.learning_rate).momentum(o.momentum));
  torch::optim::SGD gate_opt(gate.parameters(),
                             torch::optim::SGDOptions(gate_lr));
  expert.train();
  gate.train();
  return RunEpochs(data.size(), o, [&](const torch::Tensor& idx) {
    auto [x, y, zb] = SelectRows(data, z, idx);
    expert_opt.zero_grad();
    gate_opt.zero_grad();
    torch::Tensor loss =
        torch::nn::functional::cross_entropy(expert.forward(x), y);
    torch::Tensor target = torch::full({zb.size(0)}, expert_id, torch::kInt64);
    torch::Tensor gate_loss = torch::nn::functional::cross_entropy(
        SpecialistLogits(gate, zb, generalist != nullptr), target);
    torch::Tensor objective = loss + gate_weight * gate_loss;
    if (generalist) {
      objective = objective + torch::nn::functional::cross_entropy(
                                  generalist->forward(x), y);
    }
    objective.backward();
    expert_opt.step();
    gate_opt.step();
    return loss.item<double>();
  });
}

namespace {

// InvalidArgument unless the routing targets cover every local label and
// name specialists only.
Status CheckRoutingLoss(const RoutingLoss& r, const torch::Tensor& y,
                        int64_t specialists) {
  if (!std::isfinite(r.weight) || r.weight < 0) {
    return InvalidArgument(fmt::format(
        "routing loss weight {} must be finite and >= 0", r.weight));
  }
  if (r.weight == 0) {
    if (r.gate_only) {
      return InvalidArgument(
          "a gate trained by the routing loss alone needs a routing loss "
          "weight > 0");
    }
    return Status::Ok();
  }
  const int64_t max_label = y.numel() ? y.max().item<int64_t>() : -1;
  if (max_label >= static_cast<int64_t>(r.class_experts.size())) {
    return InvalidArgument(
        fmt::format("the routing targets cover {} classes; a local label is {}",
                    r.class_experts.size(), max_label));
  }
  for (int64_t q : r.class_experts) {
    if (q < -1 || q >= specialists) {
      return InvalidArgument(fmt::format(
          "routing target expert {} is not -1 or in [0, {})", q, specialists));
    }
  }
  return Status::Ok();
}

// InvalidArgument unless the generalist's weight is off, or in [0, 1) with
// a generalist.
Status CheckGeneralistWeight(double weight, bool generalist) {
  if (weight == kGateWeighsGeneralist) return Status::Ok();
  if (!(weight >= 0 && weight < 1)) {
    return InvalidArgument(fmt::format(
        "generalist weight {} must be in [0, 1) (or {}: the gate weighs it)",
        weight, kGateWeighsGeneralist));
  }
  if (!generalist) {
    return InvalidArgument(fmt::format(
        "a generalist weight ({}) needs a generalist expert", weight));
  }
  return Status::Ok();
}

}  // namespace

Result<TrainStats> TrainMixture(const std::vector<ClassifierImpl*>& experts,
                                const std::vector<int>& ids, GateImpl& gate,
                                const TensorData& data, const torch::Tensor& z,
                                const TrainOptions& o, double gate_lr,
                                const MixtureExtras& extras) {
  FEDJETS_RETURN_IF_ERROR(CheckEmbeddings(data, z));
  if (ids.empty()) return InvalidArgument("no experts selected");
  const bool generalist = extras.generalist >= 0;
  if (generalist &&
      std::find(ids.begin(), ids.end(), extras.generalist) == ids.end()) {
    return InvalidArgument(
        fmt::format("the generalist expert {} is not among the experts trained",
                    extras.generalist));
  }
  FEDJETS_RETURN_IF_ERROR(
      CheckGeneralistWeight(extras.generalist_weight, generalist));
  FEDJETS_RETURN_IF_ERROR(
      CheckRoutingLoss(extras.routing, data.y,
                       static_cast<int64_t>(experts.size()) - generalist));
  std::vector<torch::Tensor> params;
  for (int id : ids) {
    if (id < 0 || id >= static_cast<int>(experts.size()) || !experts[id]) {
      return InvalidArgument(fmt::format("expert {} is not available", id));
    }
    for (auto& p : experts[id]->parameters()) params.push_back(p);
    experts[id]->train();
  }
  torch::optim::SGD expert_opt(
      params, torch::optim::SGDOptions(o.learning_rate).momentum(o.momentum));
  torch::optim::SGD gate_opt(gate.parameters(),
                             torch::optim::SGDOptions(gate_lr));
  gate.train();
  return RunEpochs(data.size(), o, [&](const torch::Tensor& idx) {
    auto [x, y, zb] = SelectRows(data, z, idx);
    expert_opt.zero_grad();
    gate_opt.zero_grad();
    torch::Tensor gate_logits = gate.forward(zb);
    torch::Tensor w = MixtureWeights(
        extras.routing.gate_only ? gate_logits.detach() : gate_logits, ids,
        extras.generalist, extras.generalist_weight);
    torch::Tensor mix, generalist_logits;
    for (size_t k = 0; k < ids.size(); ++k) {
      torch::Tensor logits = experts[ids[k]]->forward(x);
      if (ids[k] == extras.generalist) generalist_logits = logits;
      torch::Tensor p = torch::softmax(logits, 1) *
                        w.select(1, static_cast<int64_t>(k)).unsqueeze(1);
      mix = mix.defined() ? mix + p : p;
    }
    torch::Tensor loss =
        torch::nn::functional::nll_loss(torch::log(mix + 1e-8), y);
    torch::Tensor objective = loss;
    if (generalist) {
      objective = objective +
                  torch::nn::functional::cross_entropy(generalist_logits, y);
    }
    if (extras.routing.weight > 0) {
      torch::Tensor specialist =
          generalist ? gate_logits.narrow(1, 0, gate_logits.size(1) - 1)
                     : gate_logits;
      objective =
          objective + RoutingCrossEntropy(specialist, y, extras.routing);
    }
    objective.backward();
    expert_opt.step();
    gate_opt.step();
    return loss.item<double>();
  });
}

double GateEntropy(GateImpl& gate, const torch::Tensor& z) {
  torch::NoGradGuard no_grad;
  gate.eval();
  torch::Tensor p = torch::softmax(gate.forward(z), 1);
  return (-(p * torch::log(p + 1e-12)).sum(1)).mean().item<double>();
}

}  // namespace fedjets::common
