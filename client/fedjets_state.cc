#include "client/fedjets_state.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <utility>

#include "client/heartbeat.h"

namespace fedjets::client {

using common::Clock;
using common::ParameterList;
using common::Status;

common::Result<common::RoutingLoss> RoutingLossOf(const proto::RoundTask& task,
                                                  int64_t num_classes,
                                                  int num_experts) {
  common::RoutingLoss r;
  r.weight = task.routing_loss();
  if (!std::isfinite(r.weight) || r.weight < 0) {
    return common::InvalidArgument(fmt::format(
        "round task routing_loss {} must be finite and >= 0", r.weight));
  }
  if (r.weight == 0) {
    if (task.routing_only_gate()) {
      return common::InvalidArgument(
          "round task sets routing_only_gate without a routing_loss");
    }
    return r;
  }
  r.gate_only = task.routing_only_gate();
  if (task.class_experts_size() != num_classes) {
    return common::InvalidArgument(
        fmt::format("round task class_experts has {} entries for {} classes",
                    task.class_experts_size(), num_classes));
  }
  for (int q : task.class_experts()) {
    if (q < -1 || q >= num_experts) {
      return common::InvalidArgument(fmt::format(
          "round task class_experts names expert {}; want -1 or [0, {})", q,
          num_experts));
    }
    r.class_experts.push_back(q);
  }
  return r;
}

common::Result<common::ServeOptions> ServeOptionsOf(
    const proto::MoeConfig& moe) {
  if (!(moe.serve_mass() >= 0 && moe.serve_mass() <= 1)) {
    return common::InvalidArgument(
        fmt::format("serve_mass {} must be in [0, 1]", moe.serve_mass()));
  }
  if (moe.serve_max_k() < 0 || moe.serve_max_k() > moe.num_experts()) {
    return common::InvalidArgument(
        fmt::format("serve_max_k {} must be in [0, {}]", moe.serve_max_k(),
                    moe.num_experts()));
  }
  common::ServeOptions serve{moe.serve_mixture(), moe.serve_mass(),
                             moe.serve_max_k()};
  serve.label_shift = moe.serve_label_shift();
  if (moe.has_generalist_weight()) {
    const double w = moe.generalist_weight();
    if (!(w >= 0 && w < 1)) {
      return common::InvalidArgument(
          fmt::format("generalist_weight {} must be in [0, 1)", w));
    }
    if (!moe.generalist_expert()) {
      return common::InvalidArgument(fmt::format(
          "generalist_weight {} is set without generalist_expert", w));
    }
    serve.generalist_weight = w;
  }
  return serve;
}

FedJetsState::FedJetsState(common::Connection& conn, std::string run_id,
                           const LocalClient& local, common::ModelSpec spec,
                           proto::MoeConfig moe,
                           common::Clock::duration heartbeat,
                           asio::thread_pool& trainer)
    : conn_(conn),
      run_id_(std::move(run_id)),
      local_(local),
      spec_(std::move(spec)),
      moe_(std::move(moe)),
      heartbeat_(heartbeat),
      trainer_(trainer) {}

awaitable<Status> FedJetsState::SetUp(const proto::Welcome& w,
                                      ModelCache& cache,
                                      Clock::time_point deadline) {
  auto serve = ServeOptionsOf(moe_);
  if (!serve.ok()) co_return serve.status();
  serve_ = *serve;
  const std::string& hash = w.common_expert_hash();
  if (w.common_expert_tensors() > 0) {
    auto params = co_await common::ReceiveParameters(
        conn_, run_id_, 0, w.common_expert_tensors(), deadline);
    if (!params.ok()) co_return params.status();
    if (common::ContentHash(*params) != hash) {
      co_return common::DataLoss(
          "the common expert received does not match its announced hash");
    }
    cache[hash] = std::move(*params);
  } else if (!cache.count(hash)) {
    co_return common::FailedPrecondition(fmt::format(
        "coordinator assumed a cached common expert {} we do not hold", hash));
  }
  auto common = common::MakeClassifier(spec_, /*seed=*/0);
  if (!common.ok()) co_return common.status();
  common_ = *common;
  FEDJETS_CO_RETURN_IF_ERROR(common::FromWire(
      *common_, common::TakePrefix(common::kCommonWirePrefix, cache[hash])));
  gate_ = common::Gate(spec_.hidden, moe_.gate_hidden(),
                       moe_.num_experts() + (HasGeneralist() ? 1 : 0));
  spdlog::debug("[{}] common expert ready ({})", local_.name,
                w.common_expert_tensors() > 0 ? "received" : "cached");
  co_return Status::Ok();
}

awaitable<void> FedJetsState::EmbedOnce(int64_t round) {
  if (z_.defined()) co_return;
  // Round 0 is a just-in-time serve, outside any round's silence deadline.
  const auto heartbeat = round == 0 ? Clock::duration::zero() : heartbeat_;
  z_ = co_await OnTrainerWithHeartbeats(
      trainer_, conn_, run_id_, round, heartbeat,
      [this] { return common::EmbedAll(*common_, local_.data->x); });
}

Status FedJetsState::LoadExperts(const ParameterList& params,
                                 const std::vector<int>& ids) {
  const int total = moe_.num_experts() + (HasGeneralist() ? 1 : 0);
  experts_.assign(total, nullptr);
  for (int q : ids) {
    if (q < 0 || q >= total) {
      return common::InvalidArgument(
          fmt::format("expert id {} out of range", q));
    }
    auto e = common::MakeClassifier(spec_, /*seed=*/0);
    if (!e.ok()) return e.status();
    experts_[q] = *e;
    FEDJETS_RETURN_IF_ERROR(common::FromWire(
        *experts_[q], common::TakePrefix(common::ExpertWirePrefix(q), params)));
  }
  return Status::Ok();
}

ParameterList FedJetsState::MoeWire(const std::vector<int>& ids) {
  ParameterList out =
      common::WithPrefix(common::kGateWirePrefix, common::ToWire(*gate_));
  for (int q : ids) {
    auto e = common::ExpertWire(*experts_[q], q);
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

awaitable<common::Result<std::vector<int>>> FedJetsState::RequestExperts(
    int64_t round, Clock::time_point deadline) {
  // Round 0 is a just-in-time serve, outside any round's silence deadline.
  const auto heartbeat = round == 0 ? Clock::duration::zero() : heartbeat_;
  std::vector<int> ids = co_await OnTrainerWithHeartbeats(
      trainer_, conn_, run_id_, round, heartbeat, [this, round] {
        if (round == 0) {
          return common::ServingExperts(*gate_, z_, moe_.top_k(),
                                        HasGeneralist(), serve_);
        }
        return common::SelectExperts(*gate_, z_, moe_.top_k(), HasGeneralist());
      });
  proto::Envelope req = common::MakeEnvelope(run_id_, round);
  for (int q : ids) req.mutable_expert_request()->add_experts(q);
  FEDJETS_CO_RETURN_IF_ERROR(co_await conn_.Write(req, deadline));
  auto grant = co_await conn_.Read(deadline);
  if (!grant.ok()) co_return grant.status();
  FEDJETS_CO_RETURN_IF_ERROR(common::CheckEnvelope(*grant, run_id_, round));
  if (!grant->has_expert_grant()) {
    co_return common::InvalidArgument("expected an ExpertGrant");
  }
  std::vector<int> granted(grant->expert_grant().experts().begin(),
                           grant->expert_grant().experts().end());
  auto params = co_await common::ReceiveParameters(
      conn_, run_id_, round, grant->expert_grant().num_tensors(), deadline);
  if (!params.ok()) co_return params.status();
  FEDJETS_CO_RETURN_IF_ERROR(LoadExperts(*params, granted));
  co_return granted;
}

awaitable<Status> FedJetsState::Serve(Clock::time_point deadline,
                                      ClientResult& result) {
  auto e = co_await conn_.Read(deadline);
  if (!e.ok()) co_return e.status();
  FEDJETS_CO_RETURN_IF_ERROR(common::CheckEnvelope(*e, run_id_, 0));
  if (!e->has_round_task() ||
      e->round_task().role() != proto::RoundTask::ROLE_SERVE) {
    co_return common::InvalidArgument("expected the gate for serving");
  }
  auto gate = co_await common::ReceiveParameters(
      conn_, run_id_, 0, e->round_task().num_tensors(), deadline);
  if (!gate.ok()) co_return gate.status();
  FEDJETS_CO_RETURN_IF_ERROR(common::FromWire(
      *gate_, common::TakePrefix(common::kGateWirePrefix, *gate)));
  spdlog::debug("[{}] gate received", local_.name);
  co_await EmbedOnce(0);
  spdlog::debug("[{}] local data embedded", local_.name);
  auto ids = co_await RequestExperts(0, deadline);
  if (!ids.ok()) co_return ids.status();
  spdlog::debug("[{}] experts received", local_.name);
  // Zero-shot: predict with no gradient step.
  auto jit = co_await OnTrainer(trainer_, [this] {
    std::vector<common::ClassifierImpl*> ptrs;
    for (auto& x : experts_) ptrs.push_back(x.get());
    return common::JitPredict(*gate_, ptrs, local_.data->x, z_, moe_.top_k(),
                              HasGeneralist(), serve_);
  });
  result.jit_experts = jit.selected;
  result.jit_accuracy = jit.predictions.eq(local_.data->y)
                            .to(torch::kFloat64)
                            .mean()
                            .item<double>();
  result.jit_params = MoeWire(*ids);
  spdlog::info(
      "[{}] just in time: experts [{}], accuracy {:.2f}% on {} "
      "local examples, no training",
      local_.name, fmt::join(jit.selected, ", "), 100 * result.jit_accuracy,
      local_.data->size());
  proto::Envelope bye = common::MakeEnvelope(run_id_, 0);
  bye.mutable_goodbye()->set_reason("served");
  co_return co_await conn_.Write(bye, deadline);
}

awaitable<common::Result<TrainedRound>> FedJetsState::TrainRound(
    const proto::RoundTask& task, int64_t round, const ParameterList& params,
    const common::TrainOptions& o, Clock::time_point deadline) {
  co_await EmbedOnce(round);
  FEDJETS_CO_RETURN_IF_ERROR(common::FromWire(
      *gate_, common::TakePrefix(common::kGateWirePrefix, params)));
  std::vector<int> ids;
  common::Result<common::TrainStats> stats;
  if (task.role() == proto::RoundTask::ROLE_ANCHOR) {
    ids = {task.anchor_expert()};
    if (HasGeneralist()) ids.push_back(moe_.num_experts());
    FEDJETS_CO_RETURN_IF_ERROR(LoadExperts(params, ids));
    common::ClassifierImpl* generalist =
        HasGeneralist() ? experts_[moe_.num_experts()].get() : nullptr;
    stats = co_await OnTrainerWithHeartbeats(
        trainer_, conn_, run_id_, round, heartbeat_,
        [this, o, &task, q = ids[0], generalist] {
          return common::TrainAnchor(*experts_[q], *gate_, q, *local_.data, z_,
                                     o, task.gate_lr(),
                                     task.anchor_gate_weight(), generalist);
        });
  } else {
    common::MixtureExtras extras;
    auto routing = RoutingLossOf(task, spec_.num_classes, moe_.num_experts());
    if (!routing.ok()) co_return routing.status();
    extras.routing = std::move(*routing);
    if (HasGeneralist()) {
      extras.generalist = moe_.num_experts();
      extras.generalist_weight = serve_.generalist_weight;
    }
    auto granted = co_await RequestExperts(round, deadline);
    if (!granted.ok()) co_return granted.status();
    ids = *granted;
    stats = co_await OnTrainerWithHeartbeats(
        trainer_, conn_, run_id_, round, heartbeat_,
        [this, o, &task, &ids, &extras] {
          std::vector<common::ClassifierImpl*> ptrs;
          for (auto& x : experts_) ptrs.push_back(x.get());
          return common::TrainMixture(ptrs, ids, *gate_, *local_.data, z_, o,
                                      task.gate_lr(), extras);
        });
  }
  if (!stats.ok()) co_return stats.status();
  TrainedRound out{*stats, ids, MoeWire(ids)};
  experts_.clear();
  co_return std::move(out);
}

}  // namespace fedjets::client
