// FedJETs on the wire: building the strategy, the welcome (and the common
// expert after it), a round's exchange, just-in-time serving and the expert
// grants both of them use (coordinator/strategy/fedjets_strategy.h).
#include "coordinator/strategy/fedjets_strategy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "coordinator/strategy/update_aggregator.h"

namespace fedjets::coordinator {

namespace asio = boost::asio;
using common::Clock;
using common::ParameterList;
using common::Status;

FedJetsStrategy::FedJetsStrategy(StrategyContext ctx, common::Gate gate,
                                 std::vector<common::Classifier> experts)
    : ctx_(std::move(ctx)),
      gate_(std::move(gate)),
      experts_(std::move(experts)) {
  common_wire_ = common::WithPrefix(common::kCommonWirePrefix,
                                    common::ToWire(*ctx_.common_expert));
  common_hash_ = common::ContentHash(common_wire_);
  // The common expert is frozen: embed the evaluation data once.
  test_z_ = common::EmbedAll(*ctx_.common_expert, ctx_.test.x);
  for (const auto& c : ctx_.eval_clients) {
    eval_z_.push_back(common::EmbedAll(*ctx_.common_expert, c.test.x));
  }
  if (ctx_.options.routing_loss > 0) {
    class_experts_ = ClassOwners(ctx_.anchor_classes, ctx_.spec.num_classes);
  }
}

void FedJetsStrategy::FillWelcome(const SessionInfo& s, proto::Welcome& w) {
  w.set_algorithm("fedjets");
  *w.mutable_model() = ModelConfigFor(ctx_.spec);
  w.mutable_moe()->set_num_experts(ctx_.options.num_experts);
  w.mutable_moe()->set_top_k(ctx_.options.top_k);
  w.mutable_moe()->set_gate_hidden(ctx_.options.gate_hidden);
  w.mutable_moe()->set_generalist_expert(HasGeneralist());
  w.mutable_moe()->set_serve_mixture(ctx_.options.serve_mixture);
  w.mutable_moe()->set_serve_mass(ctx_.options.serve_mass);
  w.mutable_moe()->set_serve_max_k(ServeMaxK());
  w.mutable_moe()->set_serve_label_shift(ctx_.options.serve_label_shift);
  if (ctx_.options.generalist_weight != common::kGateWeighsGeneralist) {
    w.mutable_moe()->set_generalist_weight(ctx_.options.generalist_weight);
  }
  w.set_common_expert_hash(common_hash_);
  const bool cached = std::find(s.cached_models.begin(), s.cached_models.end(),
                                common_hash_) != s.cached_models.end();
  w.set_common_expert_tensors(
      cached ? 0 : static_cast<int32_t>(common_wire_.size()));
}

asio::awaitable<Status> FedJetsStrategy::AfterWelcome(
    common::Connection& c, const std::string& run_id, const SessionInfo& s,
    Clock::time_point deadline) {
  if (std::find(s.cached_models.begin(), s.cached_models.end(), common_hash_) !=
      s.cached_models.end()) {
    co_return Status::Ok();
  }
  co_return co_await common::SendParameters(c, run_id, 0, common_wire_,
                                            deadline);
}

proto::RoundTask FedJetsStrategy::TaskFor(int round, Role role,
                                          int anchor_expert) const {
  const auto& o = ctx_.options;
  proto::RoundTask t;
  t.set_local_epochs(o.local_epochs);
  t.set_batch_size(o.batch_size);
  t.set_learning_rate(o.learning_rate);
  t.set_momentum(o.momentum);
  t.set_seed(RoundSeed(o.seed, round));
  t.set_gate_lr(role == Role::kAnchor ? o.gate_lr : NormalGateLr());
  t.set_anchor_gate_weight(o.anchor_gate_weight);
  if (role == Role::kAnchor) {
    t.set_role(proto::RoundTask::ROLE_ANCHOR);
    t.set_anchor_expert(anchor_expert);
  } else {
    t.set_role(proto::RoundTask::ROLE_NORMAL);
    if (o.routing_loss > 0) {
      t.set_routing_loss(o.routing_loss);
      t.set_routing_only_gate(o.routing_only_gate);
      for (int64_t q : class_experts_) {
        t.add_class_experts(static_cast<int32_t>(q));
      }
    }
  }
  return t;
}

asio::awaitable<common::Result<SentTask>> FedJetsStrategy::SendTask(
    common::Connection& c, const std::string& run_id, int round,
    const SessionInfo& s, Role role, Clock::time_point deadline) {
  const auto& o = ctx_.options;
  proto::Envelope task = common::MakeEnvelope(run_id, round);
  // anchor_expert is in [0, num_experts): ValidateHello.
  *task.mutable_round_task() = TaskFor(round, role, s.anchor_expert);
  auto* t = task.mutable_round_task();
  // Held to the end of the exchange: the task's gate and the granted
  // experts come from the same round's models.
  const std::shared_ptr<const ModelSnapshot> snapshot = published();
  ParameterList out = GateOf(*snapshot);
  std::vector<int> experts;
  if (role == Role::kAnchor) {
    experts = WithGeneralist({s.anchor_expert});
    auto e = ExpertsOf(*snapshot, experts);
    out.insert(out.end(), e.begin(), e.end());
  }
  t->set_num_tensors(static_cast<int32_t>(out.size()));
  FEDJETS_CO_RETURN_IF_ERROR(co_await SendWithHeader(c, task, out, deadline));
  if (role != Role::kAnchor) {
    auto granted = co_await GrantExperts(c, *snapshot, run_id, round,
                                         ctx_.options.top_k, deadline);
    if (!granted.ok()) co_return granted.status();
    experts = *granted;
  }
  SentTask sent;
  sent.role = role;
  sent.start = RoundStart(*snapshot, experts);
  sent.expected = common::SpecOf(sent.start);
  if (!KeepsUpdateStart(o)) sent.start = {};
  sent.experts = std::move(experts);
  sent.snapshot = snapshot;
  co_return sent;
}

asio::awaitable<Status> FedJetsStrategy::Serve(common::Connection& c,
                                               const std::string& run_id,
                                               Clock::time_point deadline) {
  // Held to the end: the gate and the experts the client then asks for
  // are of one round, even if the next one is published meanwhile.
  const std::shared_ptr<const ModelSnapshot> snapshot = published();
  proto::Envelope task = common::MakeEnvelope(run_id, 0);
  task.mutable_round_task()->set_role(proto::RoundTask::ROLE_SERVE);
  const ParameterList& gate = GateOf(*snapshot);
  task.mutable_round_task()->set_num_tensors(static_cast<int32_t>(gate.size()));
  FEDJETS_CO_RETURN_IF_ERROR(co_await SendWithHeader(c, task, gate, deadline));
  auto granted = co_await GrantExperts(c, *snapshot, run_id, 0,
                                       MaxServedExperts(), deadline);
  if (!granted.ok()) co_return granted.status();
  auto bye = co_await c.Read(deadline);  // the client reports and leaves
  if (!bye.ok()) co_return bye.status();
  co_return Status::Ok();
}

double FedJetsStrategy::NormalGateLr() const {
  const auto& o = ctx_.options;
  return o.normal_gate_lr < 0 ? o.gate_lr : o.normal_gate_lr;
}

common::ServeOptions FedJetsStrategy::Serving() const {
  const auto& o = ctx_.options;
  return {o.serve_mixture, o.serve_mass, ServeMaxK(), o.generalist_weight,
          o.serve_label_shift};
}

int FedJetsStrategy::ServeMaxK() const {
  const auto& o = ctx_.options;
  return std::min(o.serve_max_k, o.num_experts);
}

int FedJetsStrategy::MaxServedExperts() const {
  const auto& o = ctx_.options;
  if (o.serve_mass <= 0) return o.top_k;
  return ServeMaxK() > 0 ? ServeMaxK() : o.num_experts;
}

std::vector<int> FedJetsStrategy::WithGeneralist(std::vector<int> ids) const {
  if (HasGeneralist()) ids.push_back(GeneralistId());
  return ids;
}

ParameterList FedJetsStrategy::ExpertsOf(const ModelSnapshot& s,
                                         const std::vector<int>& ids) {
  ParameterList out;
  for (int q : ids) {
    const ParameterList& e = s.parts.at(1 + q);
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

std::vector<common::ClassifierImpl*> FedJetsStrategy::ExpertPointers() {
  std::vector<common::ClassifierImpl*> p;
  for (auto& e : experts_) p.push_back(e.get());
  return p;
}

asio::awaitable<common::Result<std::vector<int>>> FedJetsStrategy::GrantExperts(
    common::Connection& c, const ModelSnapshot& snapshot,
    const std::string& run_id, int round, int max_experts,
    Clock::time_point deadline) {
  auto req = co_await ReadClientMessage(c, run_id, round, deadline);
  if (!req.ok()) co_return req.status();
  if (!req->has_expert_request()) {
    co_return common::InvalidArgument("expected an ExpertRequest");
  }
  std::vector<int> ids(req->expert_request().experts().begin(),
                       req->expert_request().experts().end());
  const int m = ctx_.options.num_experts;
  std::vector<int> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  if (ids.empty() || static_cast<int>(ids.size()) > max_experts ||
      std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() ||
      sorted.front() < 0 || sorted.back() >= m) {
    co_return common::InvalidArgument(fmt::format(
        "expert request [{}] must name 1..{} distinct experts in [0, {})",
        fmt::join(ids, ", "), max_experts, m));
  }
  // The generalist is never requested: it comes with every grant.
  ids = WithGeneralist(std::move(ids));
  const ParameterList out = ExpertsOf(snapshot, ids);
  proto::Envelope grant = common::MakeEnvelope(run_id, round);
  for (int q : ids) grant.mutable_expert_grant()->add_experts(q);
  grant.mutable_expert_grant()->set_num_tensors(
      static_cast<int32_t>(out.size()));
  FEDJETS_CO_RETURN_IF_ERROR(co_await SendWithHeader(c, grant, out, deadline));
  co_return ids;
}

ParameterList FedJetsStrategy::RoundStart(const ModelSnapshot& s,
                                          const std::vector<int>& ids) {
  ParameterList out = GateOf(s);
  const ParameterList experts = ExpertsOf(s, ids);
  out.insert(out.end(), experts.begin(), experts.end());
  return out;
}

common::Result<std::unique_ptr<Strategy>> MakeFedJetsStrategy(
    StrategyContext context) {
  const auto& o = context.options;
  if (!context.common_expert) {
    return common::InvalidArgument(
        "fedjets needs a common expert: pass --common-expert weak, strong or "
        "examples:N:epochs:E");
  }
  if (o.num_experts < 1 || o.top_k < 1 || o.top_k > o.num_experts) {
    return common::InvalidArgument(
        fmt::format("need 1 <= --top-k ({}) <= --num-experts ({})", o.top_k,
                    o.num_experts));
  }
  if (!(o.serve_mass >= 0 && o.serve_mass <= 1)) {
    return common::InvalidArgument(
        fmt::format("--serve-mass {} must be in [0, 1]", o.serve_mass));
  }
  if (o.serve_max_k < 0) {
    return common::InvalidArgument(fmt::format(
        "--serve-max-k {} must be >= 0 (0: --num-experts)", o.serve_max_k));
  }
  if (o.generalist_weight != common::kGateWeighsGeneralist) {
    if (!(o.generalist_weight >= 0 && o.generalist_weight < 1)) {
      return common::InvalidArgument(
          fmt::format("--generalist-weight {} must be in [0, 1) (or {}: off)",
                      o.generalist_weight, common::kGateWeighsGeneralist));
    }
    if (!o.generalist_expert) {
      return common::InvalidArgument(
          "--generalist-weight needs --generalist-expert");
    }
  }
  if (!std::isfinite(o.routing_loss) || o.routing_loss < 0) {
    return common::InvalidArgument(fmt::format(
        "--routing-loss {} must be finite and >= 0", o.routing_loss));
  }
  if (o.normal_gate_lr == 0 && !o.use_anchors) {
    return common::InvalidArgument(
        "--no-anchors with --normal-gate-lr 0 (the default) leaves no "
        "client to train the gate: give --normal-gate-lr -1 (normal clients "
        "train it at --gate-lr) or a rate");
  }
  if (o.routing_loss > 0 && o.normal_gate_lr == 0) {
    return common::InvalidArgument(
        "--routing-loss trains normal clients' gate, but --normal-gate-lr 0 "
        "(the default) keeps them from training it: give --normal-gate-lr "
        "-1 (--gate-lr) or a rate with it");
  }
  if (o.routing_only_gate && o.routing_loss <= 0) {
    return common::InvalidArgument(
        "--routing-only-gate needs --routing-loss > 0: the gate would learn "
        "nothing from normal clients");
  }
  if (o.routing_loss > 0) {
    // The class -> expert map comes from the anchors' class sets.
    if (context.anchor_classes.empty()) {
      return common::InvalidArgument(
          "--routing-loss needs the anchors' class sets: give a simulated "
          "layout (--partition and --num-clients) with anchors");
    }
    if (static_cast<int>(context.anchor_classes.size()) > o.num_experts) {
      return common::InvalidArgument(
          fmt::format("--routing-loss: {} anchor class sets for {} experts",
                      context.anchor_classes.size(), o.num_experts));
    }
    for (const auto& held : context.anchor_classes) {
      for (int64_t c : held) {
        if (c < 0 || c >= context.spec.num_classes) {
          return common::InvalidArgument(fmt::format(
              "--routing-loss: anchor class {} outside the {} classes", c,
              context.spec.num_classes));
        }
      }
    }
  }
  // The gate's initial weights follow --seed; each expert starts as a copy
  // of the common expert (the generalist too, seeded after the others).
  torch::manual_seed(o.seed);
  common::Gate gate(o.model_hidden, o.gate_hidden,
                    o.num_experts + (o.generalist_expert ? 1 : 0));
  std::vector<common::Classifier> experts;
  const int total = o.num_experts + (o.generalist_expert ? 1 : 0);
  for (int q = 0; q < total; ++q) {
    auto e = common::MakeClassifier(context.spec, o.seed + q);
    if (!e.ok()) return e.status().Annotate(fmt::format("expert {}", q));
    if (Status st = common::CopyWeights(*context.common_expert, **e);
        !st.ok()) {
      return st.Annotate(
          fmt::format("starting expert {} from the common expert", q));
    }
    experts.push_back(std::move(*e));
  }
  return std::unique_ptr<Strategy>(new FedJetsStrategy(
      std::move(context), std::move(gate), std::move(experts)));
}

}  // namespace fedjets::coordinator
