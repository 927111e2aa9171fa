// FedJETs (arXiv 2306.08586) on the coordinator: a frozen common expert
// shipped once per client, a gate trained by everyone, experts trained only
// by the clients whose data routes to them, anchors tying each expert to
// its class group, and just-in-time serving of clients that never trained.
#include <fmt/format.h>

#include <numeric>

#include "common/base/atomic_file.h"
#include "common/learn/aggregate.h"
#include "common/learn/moe.h"
#include "coordinator/strategy/strategy_context.h"

namespace fedjets::coordinator {
namespace {

namespace asio = boost::asio;
using common::Clock;
using common::ParameterList;
using common::Status;


class FedJetsStrategy : public Strategy {
 public:
  explicit FedJetsStrategy(StrategyContext ctx) : ctx_(std::move(ctx)) {
    const auto& o = ctx_.options;
    torch::manual_seed(o.seed);
    gate_ = common::Gate(o.model_hidden, o.gate_hidden, o.num_experts);
    for (int q = 0; q < o.num_experts; ++q) {
      experts_.push_back(*common::MakeClassifier(ctx_.spec, o.seed + q));
      CopyWeights(*ctx_.common_expert, *experts_.back());
    }
    common_wire_ = common::WithPrefix(common::kCommonWirePrefix,
                                      common::ToWire(*ctx_.common_expert));
    common_hash_ = common::ContentHash(common_wire_);
    // The common expert is frozen: embed the evaluation data once.
    test_z_ = common::EmbedAll(*ctx_.common_expert, ctx_.test.x);
    for (const auto& c : ctx_.eval_clients) {
      eval_z_.push_back(common::EmbedAll(*ctx_.common_expert, c.test.x));
    }
  }

  bool UsesAnchors() const override { return ctx_.options.use_anchors; }

  void FillWelcome(const SessionInfo& s, proto::Welcome& w) override {
    w.set_algorithm("fedjets");
    *w.mutable_model() = ModelConfigFor(ctx_.spec);
    w.mutable_moe()->set_num_experts(ctx_.options.num_experts);
    w.mutable_moe()->set_top_k(ctx_.options.top_k);
    w.mutable_moe()->set_gate_hidden(ctx_.options.gate_hidden);
    w.set_common_expert_hash(common_hash_);
    const bool cached =
        std::find(s.cached_models.begin(), s.cached_models.end(),
                  common_hash_) != s.cached_models.end();
    w.set_common_expert_tensors(cached ? 0 : static_cast<int32_t>(common_wire_.size()));
  }

  asio::awaitable<Status> AfterWelcome(common::Connection& c,
                                       const std::string& run_id,
                                       const SessionInfo& s,
                                       Clock::time_point deadline) override {
    if (std::find(s.cached_models.begin(), s.cached_models.end(),
                  common_hash_) != s.cached_models.end()) {
      co_return Status::Ok();
    }
    co_return co_await common::SendParameters(c, run_id, 0, common_wire_,
                                              deadline);
  }

  asio::awaitable<common::Result<ClientUpdate>> Exchange(
      common::Connection& c, const std::string& run_id, int round,
      const SessionInfo& s, Role role, Clock::time_point deadline) override {
    const auto& o = ctx_.options;
    proto::Envelope task = common::MakeEnvelope(run_id, round);
    auto* t = task.mutable_round_task();
    t->set_local_epochs(o.local_epochs);
    t->set_batch_size(o.batch_size);
    t->set_learning_rate(o.learning_rate);
    t->set_momentum(o.momentum);
    t->set_seed(o.seed * 1000003 + static_cast<uint64_t>(round));
    t->set_gate_lr(role == Role::kAnchor ? o.gate_lr : NormalGateLr());
    t->set_anchor_gate_weight(o.anchor_gate_weight);
    ParameterList out = GateWire();
    std::vector<int> experts;
    if (role == Role::kAnchor) {
      const int q = s.anchor_expert;
      t->set_role(proto::RoundTask::ROLE_ANCHOR);
      t->set_anchor_expert(q);
      experts = {q};
      auto e = common::ExpertWire(*experts_[q], q);
      out.insert(out.end(), e.begin(), e.end());
    } else {
      t->set_role(proto::RoundTask::ROLE_NORMAL);
    }
    t->set_num_tensors(static_cast<int32_t>(out.size()));
    FEDJETS_CO_RETURN_IF_ERROR(co_await SendWithHeader(c, task, out, deadline));
    if (role != Role::kAnchor) {
      auto granted = co_await GrantExperts(c, run_id, round, deadline);
      if (!granted.ok()) co_return granted.status();
      experts = *granted;
    }
    auto reply = co_await ReceiveUpdate(c, run_id, round, deadline);
    if (!reply.ok()) co_return reply.status();
    FEDJETS_CO_RETURN_IF_ERROR(CheckUpdate(reply->second, experts));
    ClientUpdate u;
    u.client = s.name;
    u.num_samples = reply->first.num_samples();
    u.train_loss = reply->first.train_loss();
    u.params = std::move(reply->second);
    u.role = role;
    u.experts = experts;
    co_return u;
  }

  asio::awaitable<Status> Serve(common::Connection& c, const std::string& run_id,
                                Clock::time_point deadline) override {
    proto::Envelope task = common::MakeEnvelope(run_id, 0);
    task.mutable_round_task()->set_role(proto::RoundTask::ROLE_SERVE);
    const ParameterList gate = GateWire();
    task.mutable_round_task()->set_num_tensors(static_cast<int32_t>(gate.size()));
    FEDJETS_CO_RETURN_IF_ERROR(co_await SendWithHeader(c, task, gate, deadline));
    auto granted = co_await GrantExperts(c, run_id, 0, deadline);
    if (!granted.ok()) co_return granted.status();
    auto bye = co_await c.Read(deadline);  // the client reports and leaves
    if (!bye.ok()) co_return bye.status();
    co_return Status::Ok();
  }

  Status Aggregate(int, std::vector<ClientUpdate>& updates,
                   RoundEvent& round_event) override {
    const int m = ctx_.options.num_experts;
    std::vector<ParameterList> gates;
    std::vector<common::WeightedParameters> gate_in;
    gates.reserve(updates.size());
    for (auto& u : updates) {
      if (u.role != Role::kAnchor && NormalGateLr() == 0) continue;
      gates.push_back(common::TakePrefix(common::kGateWirePrefix, u.params));
      gate_in.push_back({&gates.back(), static_cast<double>(u.num_samples)});
    }
    if (!gate_in.empty()) {  // nobody trained it: unchanged
      auto gate = common::WeightedAverage(gate_in);
      if (!gate.ok()) return gate.status().Annotate("gate aggregation");
      FEDJETS_RETURN_IF_ERROR(common::FromWire(*gate_, *gate));
    }
    std::vector<int> load(m, 0);
    for (int q = 0; q < m; ++q) {
      std::vector<ParameterList> parts;
      std::vector<common::WeightedParameters> in;
      parts.reserve(updates.size());
      for (auto& u : updates) {
        if (std::find(u.experts.begin(), u.experts.end(), q) == u.experts.end()) {
          continue;
        }
        parts.push_back(common::TakePrefix(common::ExpertWirePrefix(q), u.params));
        in.push_back({&parts.back(), static_cast<double>(u.num_samples)});
      }
      load[q] = static_cast<int>(in.size());
      if (in.empty()) continue;  // nobody trained it: unchanged
      auto avg = common::WeightedAverage(in);
      if (!avg.ok()) return avg.status().Annotate(fmt::format("expert {}", q));
      FEDJETS_RETURN_IF_ERROR(common::FromWire(*experts_[q], *avg));
    }
    round_event.expert_load = load;
    return Status::Ok();
  }

  EvalEvent Evaluate(int round) override {
    const int k = ctx_.options.top_k;
    auto ptrs = ExpertPointers();
    size_t index = 0;
    std::vector<torch::Tensor> chosen;
    ClientScores s = ScoreClients(
        ctx_.eval_clients, [&](const EvalClient& c, ClientAccuracy& info) {
          auto jit =
              common::JitPredict(*gate_, ptrs, c.test.x, eval_z_[index++], k);
          info.experts = jit.selected;
          chosen.push_back(jit.chosen);
          return jit.predictions;
        });
    EvalEvent e;
    e.accuracy = s.accuracy;
    e.clients = std::move(s.clients);
    e.round = round;
    e.algorithm = "fedjets";
    // Whole test split, each sample routed to its top-1 expert of all M.
    auto all = common::JitPredict(*gate_, ptrs, ctx_.test.x, test_z_,
                                  ctx_.options.num_experts);
    e.test_accuracy =
        all.predictions.eq(ctx_.test.y).to(torch::kFloat64).mean().item<double>();
    last_routing_ = Routing(chosen, *gate_);
    if (last_routing_.total > 0) {
      e.routing_accuracy =
          static_cast<double>(last_routing_.correct) / last_routing_.total;
      e.gate_entropy = last_routing_.entropy;
    }
    if (auto a = AnchorRoutedAccuracy(); a >= 0) e.anchor_routed_accuracy = a;
    return e;
  }

  std::vector<Event> FinalEvents() override {
    std::vector<Event> events;
    if (ctx_.eval_clients.empty()) return events;
    auto score = [&](auto predict) {
      return ScoreClients(ctx_.eval_clients, predict).accuracy;
    };
    if (ctx_.options.baselines) {
      BaselinesEvent b;
      b.common = score([&](const EvalClient& c, ClientAccuracy&) {
        return common::Logits(*ctx_.common_expert, c.test.x).argmax(1);
      });
      b.local = score([&](const EvalClient& c, ClientAccuracy&) {
        auto tuned = FineTuned(*ctx_.common_expert, ctx_.spec, c,
                               ctx_.options.finetune_epochs, ctx_.options.seed);
        return common::Logits(*tuned, c.test.x).argmax(1);
      });
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

  StartEvent StartInfo() override {
    StartEvent s;
    s.algorithm = "fedjets";
    s.num_experts = ctx_.options.num_experts;
    s.top_k = ctx_.options.top_k;
    s.common_expert_accuracy = ctx_.common_expert_accuracy;
    s.test_accuracy = ctx_.common_expert_accuracy;
    return s;
  }

  uint64_t FullModelBytes() override {
    uint64_t n = common::TotalBytes(GateWire());
    for (auto& e : experts_) n += common::TotalBytes(common::ToWire(*e));
    return n;
  }

  ParameterList Snapshot() override {
    ParameterList all = GateWire();
    for (int q = 0; q < ctx_.options.num_experts; ++q) {
      auto e = common::ExpertWire(*experts_[q], q);
      all.insert(all.end(), e.begin(), e.end());
    }
    return all;
  }

  Status Save(const std::filesystem::path& dir) override {
    auto save = [&](auto module, const std::string& name) {
      Status st = common::WriteFileAtomicallyWith(
          dir / name, [&](const std::filesystem::path& temp) {
            torch::save(module, temp.string());
            return Status::Ok();
          });
      return st.Annotate("cannot save the models");
    };
    FEDJETS_RETURN_IF_ERROR(save(ctx_.common_expert, "common_expert.pt"));
    FEDJETS_RETURN_IF_ERROR(save(gate_, "gate.pt"));
    for (size_t q = 0; q < experts_.size(); ++q) {
      FEDJETS_RETURN_IF_ERROR(
          save(experts_[q], fmt::format("expert-{}.pt", q)));
    }
    return Status::Ok();
  }

 private:
  struct RoutingStats {
    int64_t correct = 0, total = 0;
    double entropy = 0;
    std::vector<std::vector<int64_t>> confusion;  // [class][expert]
  };

  double NormalGateLr() const {
    const auto& o = ctx_.options;
    return o.normal_gate_lr < 0 ? o.gate_lr : o.normal_gate_lr;
  }

  ParameterList GateWire() {
    return common::WithPrefix(common::kGateWirePrefix, common::ToWire(*gate_));
  }

  std::vector<common::ClassifierImpl*> ExpertPointers() {
    std::vector<common::ClassifierImpl*> p;
    for (auto& e : experts_) p.push_back(e.get());
    return p;
  }

  // Unseen-client accuracy if every sample went to the expert whose anchor
  // holds its class (needs the labels: a diagnostic that separates routing
  // errors from expert errors). Mean over unseen clients, -1 without any.
  double AnchorRoutedAccuracy() {
    if (ctx_.anchor_classes.empty()) return -1;
    torch::Tensor owner =
        torch::tensor(ClassOwners(ctx_.anchor_classes, ctx_.spec.num_classes));
    auto ptrs = ExpertPointers();
    double sum = 0;
    int n = 0;
    for (const auto& c : ctx_.eval_clients) {
      if (!c.unseen) continue;
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

  // Zero-shot accuracy and routing accuracy on the unseen clients with the
  // centrally trained reference gate in place of the federated one.
  ReferenceGateEval ReferenceGateScores() {
    auto ptrs = ExpertPointers();
    size_t index = 0;
    std::vector<torch::Tensor> chosen;
    ReferenceGateEval s;
    s.accuracy = ScoreClients(ctx_.eval_clients, [&](const EvalClient& c,
                                                     ClientAccuracy&) {
      auto jit = common::JitPredict(*ctx_.reference_gate, ptrs, c.test.x,
                                    eval_z_[index++], ctx_.options.top_k);
      chosen.push_back(jit.chosen);
      return jit.predictions;
    }).accuracy;
    RoutingStats r = Routing(chosen, *ctx_.reference_gate);
    if (r.total > 0) {
      s.routing_accuracy = static_cast<double>(r.correct) / r.total;
    }
    return s;
  }

  // Where unseen clients' samples went: chosen[i] is the expert JitPredict
  // (with `gate`) used for each test sample of evaluation client i.
  RoutingStats Routing(const std::vector<torch::Tensor>& chosen_per_client,
                       common::GateImpl& gate) {
    RoutingStats r;
    r.confusion.assign(ctx_.spec.num_classes,
                       std::vector<int64_t>(ctx_.options.num_experts, 0));
    double entropy_sum = 0;
    int unseen = 0;
    for (size_t i = 0; i < ctx_.eval_clients.size(); ++i) {
      const auto& c = ctx_.eval_clients[i];
      if (!c.unseen) continue;
      auto y = c.test.y.accessor<int64_t, 1>();
      auto chosen = chosen_per_client[i].accessor<int64_t, 1>();
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

  // Reads the client's ExpertRequest and sends the granted experts.
  asio::awaitable<common::Result<std::vector<int>>> GrantExperts(
      common::Connection& c, const std::string& run_id, int round,
      Clock::time_point deadline) {
    auto req = co_await c.Read(deadline);
    if (!req.ok()) co_return req.status();
    FEDJETS_CO_RETURN_IF_ERROR(common::CheckEnvelope(*req, run_id, round));
    if (!req->has_expert_request()) {
      co_return common::InvalidArgument("expected an ExpertRequest");
    }
    std::vector<int> ids(req->expert_request().experts().begin(),
                         req->expert_request().experts().end());
    const int m = ctx_.options.num_experts;
    std::vector<int> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    if (ids.empty() || static_cast<int>(ids.size()) > ctx_.options.top_k ||
        std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() ||
        sorted.front() < 0 || sorted.back() >= m) {
      co_return common::InvalidArgument(fmt::format(
          "expert request [{}] must name 1..{} distinct experts in [0, {})",
          fmt::join(ids, ", "), ctx_.options.top_k, m));
    }
    ParameterList out;
    for (int q : ids) {
      auto e = common::ExpertWire(*experts_[q], q);
      out.insert(out.end(), e.begin(), e.end());
    }
    proto::Envelope grant = common::MakeEnvelope(run_id, round);
    for (int q : ids) grant.mutable_expert_grant()->add_experts(q);
    grant.mutable_expert_grant()->set_num_tensors(static_cast<int32_t>(out.size()));
    FEDJETS_CO_RETURN_IF_ERROR(co_await SendWithHeader(c, grant, out, deadline));
    co_return ids;
  }

  // An update must hold exactly the gate and the experts it was given.
  Status CheckUpdate(const ParameterList& params, const std::vector<int>& ids) {
    ParameterList want = GateWire();
    for (int q : ids) {
      auto e = common::ExpertWire(*experts_[q], q);
      want.insert(want.end(), e.begin(), e.end());
    }
    return common::CheckParameterList(want, params).Annotate("update rejected");
  }

  StrategyContext ctx_;
  common::Gate gate_{nullptr};
  std::vector<common::Classifier> experts_;
  ParameterList common_wire_;
  std::string common_hash_;
  torch::Tensor test_z_;
  std::vector<torch::Tensor> eval_z_;
  RoutingStats last_routing_;  // of the latest Evaluate
};

}  // namespace

common::Result<std::unique_ptr<Strategy>> MakeFedJetsStrategy(
    StrategyContext context) {
  const auto& o = context.options;
  if (!context.common_expert) {
    return common::InvalidArgument(
        "fedjets needs a common expert: pass --common-expert weak, strong or "
        "examples:N:epochs:E");
  }
  if (o.num_experts < 1 || o.top_k < 1 || o.top_k > o.num_experts) {
    return common::InvalidArgument(fmt::format(
        "need 1 <= --top-k ({}) <= --num-experts ({})", o.top_k,
        o.num_experts));
  }
  return std::unique_ptr<Strategy>(new FedJetsStrategy(std::move(context)));
}

}  // namespace fedjets::coordinator
