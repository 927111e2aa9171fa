// FedAvg (McMahan et al.) and FedProx (Li et al.: the same exchange, with a
// proximal term mu on the clients). With a common expert, the global model
// starts from its weights, as the FedJETs paper's baselines do.
#include <fmt/format.h>

#include "common/base/atomic_file.h"
#include "common/learn/label_shift.h"
#include "coordinator/strategy/strategy_context.h"
#include "coordinator/strategy/update_aggregator.h"

namespace fedjets::coordinator {
namespace {

namespace asio = boost::asio;
using common::Clock;
using common::Status;

class FedAvgStrategy : public Strategy {
 public:
  // `model` is the initial global model.
  FedAvgStrategy(StrategyContext ctx, common::Classifier model)
      : ctx_(std::move(ctx)), model_(std::move(model)) {}

  bool UsesAnchors() const override { return false; }
  int NumExperts() const override { return 0; }

  void FillWelcome(const SessionInfo&, proto::Welcome& w) override {
    w.set_algorithm(ctx_.options.algorithm);
    *w.mutable_model() = ModelConfigFor(ctx_.spec);
  }

  asio::awaitable<Status> AfterWelcome(common::Connection&, const std::string&,
                                       const SessionInfo&,
                                       Clock::time_point) override {
    co_return Status::Ok();
  }

  asio::awaitable<common::Result<SentTask>> SendTask(
      common::Connection& c, const std::string& run_id, int round,
      const SessionInfo&, Role, Clock::time_point deadline) override {
    const auto& o = ctx_.options;
    // Held to the end of the exchange: the next round's publication does
    // not touch it.
    const std::shared_ptr<const ModelSnapshot> snapshot = published();
    const common::ParameterList& global = snapshot->parts.front();
    proto::Envelope task = common::MakeEnvelope(run_id, round);
    auto* t = task.mutable_round_task();
    t->set_num_tensors(static_cast<int32_t>(global.size()));
    t->set_local_epochs(o.local_epochs);
    t->set_batch_size(o.batch_size);
    t->set_learning_rate(o.learning_rate);
    t->set_momentum(o.momentum);
    t->set_prox_mu(o.algorithm == "fedprox" ? o.prox_mu : 0.0);
    t->set_seed(RoundSeed(o.seed, round));
    t->set_role(proto::RoundTask::ROLE_MODEL);
    FEDJETS_CO_RETURN_IF_ERROR(
        co_await SendWithHeader(c, task, global, deadline));
    SentTask sent;
    sent.expected = common::SpecOf(global);
    if (KeepsUpdateStart(o)) sent.start = global;
    sent.snapshot = snapshot;
    co_return sent;
  }

  asio::awaitable<Status> Serve(common::Connection&, const std::string&,
                                Clock::time_point) override {
    co_return common::FailedPrecondition(
        "just-in-time serving needs --algorithm fedjets");
  }

  bool FoldsUpdates() const override {
    return ctx_.options.streaming_aggregation;
  }

  // Updates wait in fours and are folded together: one pass over the
  // running sum per four (common::StreamingMean::Add), bit for bit what
  // folding each on arrival gives.
  Status Fold(int round, ClientUpdate& u) override {
    if (round != folding_round_) {
      folding_ = common::StreamingMean();
      waiting_.clear();
      folding_round_ = round;
    }
    // Checked now, so that a bad update is refused on its own.
    const common::ParameterList& like =
        waiting_.empty() ? u.params : waiting_.front().first;
    if (Status st = common::CheckParameterList(like, u.params); !st.ok()) {
      return st.Annotate(fmt::format("folding the update of '{}'", u.client));
    }
    waiting_.emplace_back(std::move(u.params),
                          static_cast<double>(u.num_samples));
    u.params = {};
    u.start = {};  // validated already; not needed again
    return waiting_.size() == kFoldGroup ? FoldWaiting() : Status::Ok();
  }

  void DiscardFolded() override {
    folding_ = common::StreamingMean();
    waiting_.clear();
    folding_round_ = -1;
  }

  Status Aggregate(int round, std::vector<ClientUpdate>& updates,
                   RoundEvent&) override {
    if (FoldsUpdates()) {
      if (folding_round_ != round) {
        return common::FailedPrecondition(fmt::format(
            "aggregation: no update of round {} was folded", round));
      }
      FEDJETS_RETURN_IF_ERROR(FoldWaiting());
      auto mean = folding_.Mean();
      folding_ = common::StreamingMean();
      if (!mean.ok()) return mean.status().Annotate("aggregation");
      return common::FromWire(*model_, *mean);
    }
    UpdateAggregator aggregator(ctx_.options, round);
    FEDJETS_RETURN_IF_ERROR(aggregator.ClipUpdates(updates));
    std::vector<common::WeightedParameters> in;
    for (auto& u : updates) {
      in.push_back({&u.params, static_cast<double>(u.num_samples)});
    }
    auto avg = aggregator.Combine(in);
    if (!avg.ok()) return avg.status().Annotate("aggregation");
    return common::FromWire(*model_, *avg);
  }

  EvalEvent Evaluate(int round) override {
    ClientScores s = ScoreClients(
        ctx_.eval_clients, [&](const EvalClient& c, ClientAccuracy&) {
          torch::Tensor logits = common::Logits(*model_, c.test.x);
          return ctx_.options.serve_label_shift
                     ? common::LabelShiftPredictions(logits)
                     : logits.argmax(1);
        });
    EvalEvent e;
    e.accuracy = s.accuracy;
    e.clients = std::move(s.clients);
    e.round = round;
    e.algorithm = ctx_.options.algorithm;
    e.test_accuracy = common::Evaluate(*model_, ctx_.test).accuracy;
    return e;
  }

  std::vector<Event> FinalEvents() override {
    if (ctx_.eval_clients.empty() || !ctx_.options.baselines) return {};
    const uint64_t seed = ctx_.options.seed;
    const int epochs = ctx_.options.finetune_epochs;
    // Local fine-tuning starts where the federation started.
    common::Result<common::Classifier> start =
        ctx_.common_expert ? ctx_.common_expert
                           : common::MakeClassifier(ctx_.spec, seed);
    BaselinesEvent b;
    if (ctx_.common_expert) {
      b.common = ScoreReference(ctx_.eval_clients, [&](const EvalClient& c) {
        return common::Logits(*ctx_.common_expert, c.test.x).argmax(1);
      });
    }
    b.local = start.ok() ? ScoreFineTuned(ctx_.eval_clients, **start, ctx_.spec,
                                          epochs, seed)
                         : UnscoredReference(start.status());
    b.oracle =
        ScoreFineTuned(ctx_.eval_clients, *model_, ctx_.spec, epochs, seed);
    return {b};
  }

  StartEvent StartInfo() override {
    StartEvent s;
    s.algorithm = ctx_.options.algorithm;
    s.test_accuracy = common::Evaluate(*model_, ctx_.test).accuracy;
    if (ctx_.common_expert) {
      s.common_expert_accuracy = ctx_.common_expert_accuracy;
    }
    return s;
  }

  std::shared_ptr<const ModelSnapshot> MakeSnapshot(int round) override {
    return MakeModelSnapshot(round, {common::ToWire(*model_)});
  }

  Status Restore(const common::ParameterList& params) override {
    return common::FromWire(*model_, params);
  }

  Status Save(const std::filesystem::path& dir) override {
    Status st = common::WriteFileAtomicallyWith(
        dir / "model.pt", [&](const std::filesystem::path& temp) {
          torch::save(model_, temp.string());
          return Status::Ok();
        });
    return st.Annotate("cannot save the model");
  }

 private:
  StrategyContext ctx_;
  common::Classifier model_;
  static constexpr size_t kFoldGroup = 4;

  Status FoldWaiting() {
    std::vector<common::WeightedParameters> in;
    for (const auto& [params, weight] : waiting_)
      in.push_back({&params, weight});
    Status st = folding_.Add(in);
    waiting_.clear();
    return st.Annotate("aggregation");
  }

  // --streaming-aggregation: the running mean of round folding_round_,
  // and the updates waiting to be folded into it (fewer than four).
  common::StreamingMean folding_;
  std::vector<std::pair<common::ParameterList, double>> waiting_;
  int folding_round_ = -1;
};

}  // namespace

common::Result<std::unique_ptr<Strategy>> MakeFedAvgStrategy(
    StrategyContext context) {
  auto model = common::MakeClassifier(context.spec, context.options.seed);
  if (!model.ok()) return model.status().Annotate("the global model");
  if (context.common_expert) {
    if (Status st = common::CopyWeights(*context.common_expert, **model);
        !st.ok()) {
      return st.Annotate("starting the global model from the common expert");
    }
  }
  return std::unique_ptr<Strategy>(
      new FedAvgStrategy(std::move(context), std::move(*model)));
}

}  // namespace fedjets::coordinator
