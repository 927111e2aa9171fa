// FedJETs (arXiv 2306.08586) on the coordinator: a frozen common expert
// shipped once per client, a gate trained by everyone, experts trained only
// by the clients whose data routes to them, anchors tying each expert to
// its class group, and just-in-time serving of clients that never trained.
// Internal to the coordinator (MakeFedJetsStrategy builds it); its methods
// live in fedjets_strategy.cc (the wire: welcome, round exchange, serving
// and expert grants), fedjets_aggregation.cc (folding updates in, the
// global state) and fedjets_evaluation.cc (scores, routing, baselines).
// Threads: as Strategy.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/learn/moe_serving.h"
#include "coordinator/strategy/strategy_context.h"

namespace fedjets::coordinator {

class FedJetsStrategy : public Strategy {
 public:
  // `gate` and `experts` (num_experts of them, each a copy of the common
  // expert, then the generalist with --generalist-expert) are the initial
  // global state; the context holds the common expert.
  FedJetsStrategy(StrategyContext ctx, common::Gate gate,
                  std::vector<common::Classifier> experts);

  bool UsesAnchors() const override { return ctx_.options.use_anchors; }
  int NumExperts() const override { return ctx_.options.num_experts; }
  void FillWelcome(const SessionInfo& s, proto::Welcome& w) override;
  boost::asio::awaitable<common::Status> AfterWelcome(
      common::Connection& c, const std::string& run_id, const SessionInfo& s,
      common::Clock::time_point deadline) override;
  boost::asio::awaitable<common::Result<SentTask>> SendTask(
      common::Connection& c, const std::string& run_id, int round,
      const SessionInfo& s, Role role,
      common::Clock::time_point deadline) override;
  boost::asio::awaitable<common::Status> Serve(
      common::Connection& c, const std::string& run_id,
      common::Clock::time_point deadline) override;

  common::Status Aggregate(int round, std::vector<ClientUpdate>& updates,
                           RoundEvent& round_event) override;
  // The task a client of `role` is sent in `round` (anchor_expert: the
  // anchor's expert), without its tensor count. A normal client's carries
  // the routing loss and its class -> expert map when --routing-loss is on.
  proto::RoundTask TaskFor(int round, Role role, int anchor_expert) const;
  EvalEvent Evaluate(int round) override;
  std::vector<Event> FinalEvents() override;
  StartEvent StartInfo() override;
  std::shared_ptr<const ModelSnapshot> MakeSnapshot(int round) override;
  common::Status Restore(const common::ParameterList& params) override;
  common::Status Save(const std::filesystem::path& dir) override;

 private:
  struct RoutingStats {
    int64_t correct = 0, total = 0;
    double entropy = 0;
    std::vector<std::vector<int64_t>> confusion;  // [class][expert]
  };

  // Gate learning rate of normal clients (--normal-gate-lr, or --gate-lr).
  double NormalGateLr() const;
  bool HasGeneralist() const { return ctx_.options.generalist_expert; }
  // The generalist's expert id (one past the specialists): its wire prefix
  // is ExpertWirePrefix(GeneralistId()) and its gate output the last.
  int GeneralistId() const { return ctx_.options.num_experts; }
  // How zero-shot clients are served (--serve-mixture, --serve-mass,
  // --serve-max-k), and the most experts a serving client may request.
  common::ServeOptions Serving() const;
  // --serve-max-k, at most the experts there are (0: all of them).
  int ServeMaxK() const;
  int MaxServedExperts() const;
  // `ids` and, with a generalist, its id after them: what a client with
  // specialists `ids` trains or is served.
  std::vector<int> WithGeneralist(std::vector<int> ids) const;
  // The parts of a snapshot (ModelSnapshot::parts: the gate, then each
  // expert), named for the wire.
  static const common::ParameterList& GateOf(const ModelSnapshot& s) {
    return s.parts.front();
  }
  // The parameters of experts `ids` of `s`, in that order.
  static common::ParameterList ExpertsOf(const ModelSnapshot& s,
                                         const std::vector<int>& ids);
  std::vector<common::ClassifierImpl*> ExpertPointers();

  // Reads the client's ExpertRequest (1..max_experts distinct
  // specialists) and sends the granted experts of `snapshot`.
  boost::asio::awaitable<common::Result<std::vector<int>>> GrantExperts(
      common::Connection& c, const ModelSnapshot& snapshot,
      const std::string& run_id, int round, int max_experts,
      common::Clock::time_point deadline);
  // The gate and experts `ids` of `s` as a round sends them: what an
  // update must match (in that order), and what its delta is measured
  // from.
  static common::ParameterList RoundStart(const ModelSnapshot& s,
                                          const std::vector<int>& ids);

  // Unseen-client accuracy if every sample went to the expert whose anchor
  // holds its class (needs the labels: a diagnostic that separates routing
  // errors from expert errors). Mean over unseen clients, -1 without any.
  double AnchorRoutedAccuracy();
  // Zero-shot accuracy and routing accuracy on the unseen clients with the
  // centrally trained reference gate in place of the federated one.
  ReferenceGateEval ReferenceGateScores();
  // Where unseen clients' samples went: routed[i] is the specialist
  // JitPredict (with `gate`) routed each test sample of evaluation client
  // i to.
  RoutingStats Routing(const std::vector<torch::Tensor>& routed_per_client,
                       common::GateImpl& gate);

  StrategyContext ctx_;
  common::Gate gate_{nullptr};
  std::vector<common::Classifier> experts_;  // specialists, then generalist
  // --routing-loss: per class, the expert whose anchor holds it, or -1.
  std::vector<int64_t> class_experts_;
  common::ParameterList common_wire_;
  std::string common_hash_;
  torch::Tensor test_z_;
  std::vector<torch::Tensor> eval_z_;
  RoutingStats last_routing_;  // of the latest Evaluate
};

}  // namespace fedjets::coordinator
