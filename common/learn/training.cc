#include "common/learn/training.h"

#include <fmt/format.h>

#include <chrono>

namespace fedjets::common {

TensorData ToTensors(const Dataset& d) {
  std::vector<int64_t> shape{d.size()};
  shape.insert(shape.end(), d.example_shape.begin(), d.example_shape.end());
  TensorData out;
  // from_blob does not own the memory: clone so the tensors outlive `d`.
  out.x = torch::from_blob(const_cast<float*>(d.features.data()), shape,
                           torch::kFloat32)
              .clone();
  out.y = torch::from_blob(const_cast<int64_t*>(d.labels.data()), {d.size()},
                           torch::kInt64)
              .clone();
  return out;
}

Result<TrainStats> RunEpochs(
    int64_t n, const TrainOptions& o,
    const std::function<double(const torch::Tensor&)>& step) {
  if (n == 0) {
    return FailedPrecondition("cannot train: the client holds no examples");
  }
  if (o.batch_size < 1 || o.local_epochs < 1 || o.learning_rate <= 0) {
    return InvalidArgument(
        fmt::format("bad training options: batch_size={} local_epochs={} lr={}",
                    o.batch_size, o.local_epochs, o.learning_rate));
  }
  const auto start = std::chrono::steady_clock::now();
  auto gen = at::detail::createCPUGenerator(o.seed);
  double loss_sum = 0.0;
  int64_t seen = 0;
  for (int epoch = 0; epoch < o.local_epochs; ++epoch) {
    torch::Tensor order = torch::randperm(n, gen, torch::kInt64);
    for (int64_t begin = 0; begin < n; begin += o.batch_size) {
      const int64_t end = std::min(n, begin + o.batch_size);
      loss_sum += step(order.slice(/*dim=*/0, begin, end)) *
                  static_cast<double>(end - begin);
      seen += end - begin;
    }
  }
  TrainStats stats;
  stats.mean_loss = loss_sum / static_cast<double>(seen);
  stats.examples_seen = seen;
  stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return stats;
}

Result<TrainStats> TrainLocal(ClassifierImpl& model, const TensorData& data,
                              const TrainOptions& o) {
  std::vector<torch::Tensor> anchor;
  if (o.prox_mu > 0) {
    for (const auto& p : model.parameters())
      anchor.push_back(p.detach().clone());
  }
  torch::optim::SGD optimizer(
      model.parameters(),
      torch::optim::SGDOptions(o.learning_rate).momentum(o.momentum));
  model.train();
  return RunEpochs(data.size(), o, [&](const torch::Tensor& idx) {
    torch::Tensor x = data.x.index_select(/*dim=*/0, idx);
    torch::Tensor y = data.y.index_select(/*dim=*/0, idx);
    optimizer.zero_grad();
    torch::Tensor loss =
        torch::nn::functional::cross_entropy(model.forward(x), y);
    torch::Tensor objective = loss;
    if (o.prox_mu > 0) {
      auto params = model.parameters();
      torch::Tensor prox = torch::zeros({});
      for (size_t i = 0; i < params.size(); ++i) {
        prox = prox + (params[i] - anchor[i]).pow(2).sum();
      }
      objective = objective + 0.5 * o.prox_mu * prox;
    }
    objective.backward();
    optimizer.step();
    return loss.item<double>();
  });
}

torch::Tensor InBatches(
    const torch::Tensor& x, int64_t batch_size,
    const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < x.size(0); b += batch_size) {
    parts.push_back(f(x.slice(0, b, std::min(x.size(0), b + batch_size))));
  }
  return parts.empty() ? torch::zeros({0, 0}) : torch::cat(parts);
}

torch::Tensor Logits(ClassifierImpl& model, const torch::Tensor& x,
                     int64_t batch_size) {
  model.eval();
  return InBatches(x, batch_size,
                   [&](const torch::Tensor& b) { return model.forward(b); });
}

EvalStats Evaluate(ClassifierImpl& model, const TensorData& data,
                   int64_t batch_size) {
  torch::NoGradGuard no_grad;
  model.eval();
  EvalStats s;
  double loss_sum = 0.0;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const int64_t end = std::min(data.size(), begin + batch_size);
    torch::Tensor x = data.x.slice(0, begin, end);
    torch::Tensor y = data.y.slice(0, begin, end);
    torch::Tensor logits = model.forward(x);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(
                        torch::kSum))
                    .item<double>();
    correct += logits.argmax(/*dim=*/1).eq(y).sum().item<int64_t>();
  }
  s.examples = data.size();
  if (s.examples > 0) {
    s.loss = loss_sum / static_cast<double>(s.examples);
    s.accuracy = static_cast<double>(correct) / static_cast<double>(s.examples);
  }
  return s;
}

}  // namespace fedjets::common
