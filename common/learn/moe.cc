#include "common/learn/moe.h"

#include <fmt/format.h>

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

torch::Tensor MeanGateScores(GateImpl& gate, const torch::Tensor& z) {
  torch::NoGradGuard no_grad;
  gate.eval();
  return torch::softmax(gate.forward(z), /*dim=*/1).mean(/*dim=*/0);
}

std::vector<int> SelectExperts(GateImpl& gate, const torch::Tensor& z, int k) {
  torch::Tensor scores = MeanGateScores(gate, z);
  k = std::min<int>(k, static_cast<int>(scores.size(0)));
  torch::Tensor top = std::get<1>(scores.topk(k));
  std::vector<int> ids;
  for (int i = 0; i < k; ++i) ids.push_back(top[i].item<int>());
  return ids;
}

Result<TrainStats> TrainAnchor(ClassifierImpl& expert, GateImpl& gate,
                               int expert_id, const TensorData& data,
                               const torch::Tensor& z, const TrainOptions& o,
                               double gate_lr, double gate_weight) {
  FEDJETS_RETURN_IF_ERROR(CheckEmbeddings(data, z));
  torch::optim::SGD expert_opt(
      expert.parameters(),
      torch::optim::SGDOptions(o.learning_rate).momentum(o.momentum));
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
    torch::Tensor gate_loss =
        torch::nn::functional::cross_entropy(gate.forward(zb), target);
    (loss + gate_weight * gate_loss).backward();
    expert_opt.step();
    gate_opt.step();
    return loss.item<double>();
  });
}

Result<TrainStats> TrainMixture(const std::vector<ClassifierImpl*>& experts,
                                const std::vector<int>& ids, GateImpl& gate,
                                const TensorData& data, const torch::Tensor& z,
                                const TrainOptions& o, double gate_lr) {
  FEDJETS_RETURN_IF_ERROR(CheckEmbeddings(data, z));
  if (ids.empty()) return InvalidArgument("no experts selected");
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
  torch::Tensor cols =
      torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()));
  return RunEpochs(data.size(), o, [&](const torch::Tensor& idx) {
    auto [x, y, zb] = SelectRows(data, z, idx);
    expert_opt.zero_grad();
    gate_opt.zero_grad();
    torch::Tensor w =
        torch::softmax(gate.forward(zb).index_select(1, cols), /*dim=*/1);
    torch::Tensor mix;
    for (size_t k = 0; k < ids.size(); ++k) {
      torch::Tensor p = torch::softmax(experts[ids[k]]->forward(x), 1) *
                        w.select(1, static_cast<int64_t>(k)).unsqueeze(1);
      mix = mix.defined() ? mix + p : p;
    }
    torch::Tensor loss =
        torch::nn::functional::nll_loss(torch::log(mix + 1e-8), y);
    loss.backward();
    expert_opt.step();
    gate_opt.step();
    return loss.item<double>();
  });
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

JitPrediction JitPredict(GateImpl& gate,
                         const std::vector<ClassifierImpl*>& experts,
                         const torch::Tensor& x, const torch::Tensor& z,
                         int k) {
  torch::NoGradGuard no_grad;
  JitPrediction out;
  out.selected = SelectExperts(gate, z, k);
  torch::Tensor cols = torch::tensor(
      std::vector<int64_t>(out.selected.begin(), out.selected.end()));
  torch::Tensor best = gate.forward(z).index_select(1, cols).argmax(1);
  out.chosen = cols.index_select(0, best);
  out.predictions = PredictByExpert(experts, x, out.chosen);
  return out;
}

double GateEntropy(GateImpl& gate, const torch::Tensor& z) {
  torch::NoGradGuard no_grad;
  gate.eval();
  torch::Tensor p = torch::softmax(gate.forward(z), 1);
  return (-(p * torch::log(p + 1e-12)).sum(1)).mean().item<double>();
}

}  // namespace fedjets::common
