// The round loop of a client session (client/client_session.h).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "client/client_session.h"
#include "client/heartbeat.h"

namespace fedjets::client {

using common::Clock;
using common::Status;

awaitable<Status> ClientSession::RoundLoop() {
  auto idle_deadline = Clock::now() + opt_.idle_timeout;
  for (;;) {
    if (leave_.requested()) co_return co_await SayGoodbye();
    idle_reading_ = true;
    auto e = co_await conn_->Read(idle_deadline);
    idle_reading_ = false;
    if (!e.ok()) {
      if (leave_.requested()) co_return co_await SayGoodbye();
      co_return ExplainIdleFailure(e.status(), idle_deadline);
    }
    if (e->has_goodbye()) {
      spdlog::info("[{}] coordinator says goodbye: {}", local_.name,
                   e->goodbye().reason());
      co_return Status::Ok();
    }
    if (e->has_error()) {
      const std::string why =
          fmt::format("coordinator error: {}", e->error().message());
      // Dropped as silent (we were frozen or cut off): join again.
      if (e->error().code() == proto::Error::CODE_DEADLINE_EXCEEDED) {
        co_return common::DeadlineExceeded(why);
      }
      co_return common::FailedPrecondition(why);
    }
    if (e->run_id() != run_id_) {
      co_return common::FailedPrecondition(
          fmt::format("message for run '{}' rejected: joined run '{}'",
                      e->run_id(), run_id_));
    }
    if (e->has_heartbeat()) {
      FEDJETS_CO_RETURN_IF_ERROR(co_await AnswerHeartbeat(e->round()));
      continue;
    }
    if (!e->has_round_task()) {
      co_return common::InvalidArgument(
          fmt::format("unexpected message kind {} from coordinator",
                      static_cast<int>(e->body_case())));
    }
    FEDJETS_CO_RETURN_IF_ERROR(co_await TrainRound(*e));
    ++result_.rounds_trained;
    idle_deadline = Clock::now() + opt_.idle_timeout;
  }
}

awaitable<Status> ClientSession::AnswerHeartbeat(int64_t round) {
  if (round != 0) {
    co_return common::InvalidArgument(fmt::format(
        "coordinator sent a Heartbeat of round {} between rounds", round));
  }
  proto::Envelope answer = common::MakeEnvelope(run_id_, 0);
  answer.mutable_heartbeat();
  co_return co_await conn_->Write(answer,
                                  Clock::now() + opt_.handshake_timeout);
}

Status ClientSession::ExplainIdleFailure(const Status& st,
                                         Clock::time_point idle_deadline) {
  if (st.code() != common::StatusCode::kDeadlineExceeded) return st;
  if (Clock::now() >= idle_deadline) {
    return st.Annotate(fmt::format(
        "no round task for {} s (--idle-timeout)",
        std::chrono::duration_cast<std::chrono::seconds>(opt_.idle_timeout)
            .count()));
  }
  return st.Annotate(fmt::format(
      "the coordinator sent nothing for {:g} s (Welcome.silence_seconds): "
      "taken for gone",
      std::chrono::duration<double>(silence_).count()));
}

awaitable<Status> ClientSession::SayGoodbye() {
  proto::Envelope bye = common::MakeEnvelope(run_id_, 0);
  bye.mutable_goodbye()->set_reason(leave_.reason());
  const Status sent =
      co_await conn_->Write(bye, Clock::now() + std::chrono::seconds(5));
  conn_->Close();
  if (sent.ok()) {
    spdlog::info("[{}] said goodbye to the coordinator after {} rounds",
                 local_.name, result_.rounds_trained);
  } else {
    spdlog::warn("[{}] leaving without a goodbye: {}", local_.name,
                 sent.ToString());
  }
  result_.left = true;
  co_return Status::Ok();
}

awaitable<Status> ClientSession::TrainRound(const proto::Envelope& e) {
  const int64_t round = e.round();
  round_ = round;
  const proto::RoundTask& task = e.round_task();
  const auto deadline = Clock::now() + opt_.idle_timeout;
  auto params = co_await common::ReceiveParameters(
      *conn_, run_id_, round, task.num_tensors(), deadline);
  if (!params.ok()) co_return params.status();
  spdlog::debug("[{}] round {}: task received, training", local_.name, round);
  common::TrainOptions o;
  o.local_epochs = task.local_epochs();
  o.batch_size = task.batch_size();
  o.learning_rate = task.learning_rate();
  o.momentum = task.momentum();
  o.prox_mu = task.prox_mu();
  o.seed = task.seed();
  common::Result<TrainedRound> trained;
  switch (task.role()) {
    case proto::RoundTask::ROLE_MODEL:
      trained = co_await TrainModel(round, *params, o);
      break;
    case proto::RoundTask::ROLE_ANCHOR:
    case proto::RoundTask::ROLE_NORMAL:
      if (!fedjets_) co_return common::FailedPrecondition("not a fedjets run");
      trained =
          co_await fedjets_->TrainRound(task, round, *params, o, deadline);
      break;
    default:
      co_return common::InvalidArgument(fmt::format(
          "unexpected task role {}", static_cast<int>(task.role())));
  }
  if (!trained.ok()) co_return trained.status();
  const common::TrainStats& stats = trained->stats;
  const std::vector<int>& ids = trained->experts;
  spdlog::info("[{}] round {}: trained on {} examples{}, loss {:.4f}, {:.1f} s",
               local_.name, round, stats.examples_seen,
               ids.empty() ? std::string()
                           : fmt::format(" (experts {})", fmt::join(ids, ",")),
               stats.mean_loss, stats.seconds);
  common::ParameterList& out = trained->update;
  proto::Envelope reply = common::MakeEnvelope(run_id_, round);
  auto* u = reply.mutable_update();
  u->set_num_tensors(static_cast<int32_t>(out.size()));
  u->set_num_samples(local_.data->size());
  u->set_train_loss(stats.mean_loss);
  u->set_train_seconds(stats.seconds);
  for (int q : ids) u->add_experts(q);
  if (opt_.rewrite_update) opt_.rewrite_update(*params, *u, out);
  FEDJETS_CO_RETURN_IF_ERROR(co_await conn_->Write(reply, deadline));
  co_return co_await common::SendParameters(*conn_, run_id_, round, out,
                                            deadline);
}

awaitable<common::Result<TrainedRound>> ClientSession::TrainModel(
    int64_t round, const common::ParameterList& params,
    const common::TrainOptions& o) {
  if (!model_) co_return common::FailedPrecondition("no model to train");
  FEDJETS_CO_RETURN_IF_ERROR(common::FromWire(*model_, params));
  common::Result<common::TrainStats> stats = co_await OnTrainerWithHeartbeats(
      trainer_, *conn_, run_id_, round, heartbeat_,
      [this, o] { return common::TrainLocal(*model_, *local_.data, o); });
  if (!stats.ok()) co_return stats.status();
  co_return TrainedRound{*stats, {}, common::ToWire(*model_)};
}

}  // namespace fedjets::client
