// FedJETs' scores: just-in-time evaluation of the global gate and experts,
// where unseen clients' samples are routed, and the reference methods
// (coordinator/strategy/fedjets_strategy.h).
#include <algorithm>

#include "coordinator/strategy/fedjets_strategy.h"

namespace fedjets::coordinator {

EvalEvent FedJetsStrategy::Evaluate(int round) {
  const int k = ctx_.options.top_k;
  auto ptrs = ExpertPointers();
  size_t index = 0;
  std::vector<torch::Tensor> routed;
  int64_t generalist_used = 0, unseen_samples = 0;
  ClientScores s = ScoreClients(ctx_.eval_clients, [&](const EvalClient& c,
                                                       ClientAccuracy& info) {
    auto jit = common::JitPredict(*gate_, ptrs, c.test.x, eval_z_[index++], k,
                                  HasGeneralist(), Serving());
    info.experts = jit.selected;
    routed.push_back(jit.routed);
    if (c.kind == common::EvalClientKind::kUnseen) {
      generalist_used += jit.chosen.eq(GeneralistId()).sum().item<int64_t>();
      unseen_samples += jit.chosen.size(0);
    }
    return jit.predictions;
  });
  EvalEvent e;
  e.accuracy = s.accuracy;
  e.clients = std::move(s.clients);
  e.round = round;
  e.algorithm = "fedjets";
  // Whole test split, each sample routed to its top-1 expert of all M
  // (or the generalist, by its weight).
  common::ServeOptions top1;
  top1.generalist_weight = ctx_.options.generalist_weight;
  auto all =
      common::JitPredict(*gate_, ptrs, ctx_.test.x, test_z_,
                         ctx_.options.num_experts, HasGeneralist(), top1);
  e.test_accuracy =
      all.predictions.eq(ctx_.test.y).to(torch::kFloat64).mean().item<double>();
  last_routing_ = Routing(routed, *gate_);
  if (HasGeneralist() && unseen_samples > 0) {
    e.generalist_share = static_cast<double>(generalist_used) / unseen_samples;
  }
  if (last_routing_.total > 0) {
    e.routing_accuracy =
        static_cast<double>(last_routing_.correct) / last_routing_.total;
    e.gate_entropy = last_routing_.entropy;
  }
  if (auto a = AnchorRoutedAccuracy(); a >= 0) e.anchor_routed_accuracy = a;
  return e;
}

std::vector<Event> FedJetsStrategy::FinalEvents() {
  std::vector<Event> events;
  if (ctx_.eval_clients.empty()) return events;
  if (ctx_.options.baselines) {
    BaselinesEvent b;
    b.common = ScoreReference(ctx_.eval_clients, [&](const EvalClient& c) {
      return common::Logits(*ctx_.common_expert, c.test.x).argmax(1);
    });
    b.local = ScoreFineTuned(ctx_.eval_clients, *ctx_.common_expert, ctx_.spec,
                             ctx_.options.finetune_epochs, ctx_.options.seed);
    events.push_back(b);
  }
  // The driver always evaluates the last round, so this is the final
  // model's routing.
  RoutingEvent routing;
  routing.confusion = last_routing_.confusion;
  routing.anchor_classes = ctx_.anchor_classes;
  if (ctx_.reference_gate) routing.reference_gate = ReferenceGateScores();
  events.push_back(routing);
  return events;
}

StartEvent FedJetsStrategy::StartInfo() {
  StartEvent s;
  s.algorithm = "fedjets";
  s.num_experts = ctx_.options.num_experts;
  s.top_k = ctx_.options.top_k;
  s.common_expert_accuracy = ctx_.common_expert_accuracy;
  s.test_accuracy = ctx_.common_expert_accuracy;
  return s;
}

double FedJetsStrategy::AnchorRoutedAccuracy() {
  if (ctx_.anchor_classes.empty()) return -1;
  torch::Tensor owner =
      torch::tensor(ClassOwners(ctx_.anchor_classes, ctx_.spec.num_classes));
  auto ptrs = ExpertPointers();
  double sum = 0;
  int n = 0;
  for (const auto& c : ctx_.eval_clients) {
    if (c.kind != common::EvalClientKind::kUnseen) continue;
    torch::Tensor chosen = owner.index_select(0, c.test.y);
    torch::Tensor held = chosen.ge(0);
    const double n_held = held.sum().item<double>();
    if (n_held == 0) continue;
    torch::Tensor pred = common::PredictByExpert(ptrs, c.test.x, chosen);
    sum += pred.eq(c.test.y).logical_and(held).sum().item<double>() / n_held;
    ++n;
  }
  return n ? sum / n : -1;
}

ReferenceGateEval FedJetsStrategy::ReferenceGateScores() {
  auto ptrs = ExpertPointers();
  size_t index = 0;
  std::vector<torch::Tensor> routed;
  ReferenceGateEval s;
  s.accuracy = ScoreClients(ctx_.eval_clients, [&](const EvalClient& c,
                                                   ClientAccuracy&) {
                 auto jit =
                     common::JitPredict(*ctx_.reference_gate, ptrs, c.test.x,
                                        eval_z_[index++], ctx_.options.top_k,
                                        /*generalist=*/false, Serving());
                 routed.push_back(jit.routed);
                 return jit.predictions;
               }).accuracy;
  RoutingStats r = Routing(routed, *ctx_.reference_gate);
  if (r.total > 0) {
    s.routing_accuracy = static_cast<double>(r.correct) / r.total;
  }
  return s;
}

FedJetsStrategy::RoutingStats FedJetsStrategy::Routing(
    const std::vector<torch::Tensor>& routed_per_client,
    common::GateImpl& gate) {
  RoutingStats r;
  r.confusion.assign(ctx_.spec.num_classes,
                     std::vector<int64_t>(ctx_.options.num_experts, 0));
  double entropy_sum = 0;
  int unseen = 0;
  for (size_t i = 0; i < ctx_.eval_clients.size(); ++i) {
    const auto& c = ctx_.eval_clients[i];
    if (c.kind != common::EvalClientKind::kUnseen) continue;
    auto y = c.test.y.accessor<int64_t, 1>();
    auto chosen = routed_per_client[i].accessor<int64_t, 1>();
    for (int64_t j = 0; j < y.size(0); ++j) {
      ++r.confusion[y[j]][chosen[j]];
      if (chosen[j] < static_cast<int64_t>(ctx_.anchor_classes.size())) {
        const auto& held = ctx_.anchor_classes[chosen[j]];
        r.correct += std::find(held.begin(), held.end(), y[j]) != held.end();
      }
      ++r.total;
    }
    entropy_sum += common::GateEntropy(gate, eval_z_[i]);
    ++unseen;
  }
  if (unseen) r.entropy = entropy_sum / unseen;
  return r;
}

}  // namespace fedjets::coordinator
