// The round driver: each round samples clients, runs their exchanges
// concurrently, aggregates and evaluates on the worker thread, and
// records the round's events.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "coordinator/client_sampling.h"
#include "coordinator/coordinator_impl.h"
#include "coordinator/validation.h"

namespace fedjets::coordinator {
namespace {

// A failed exchange the client is to blame for, as counted in the round's
// updates_rejected, and the Error code it is told; empty for a lost
// connection, a client's own error or the round deadline.
struct WireRejection {
  std::string reason;
  proto::Error::Code code;
};

std::optional<WireRejection> RejectionReason(const Status& st,
                                             Clock::time_point round_deadline) {
  switch (st.code()) {
    case common::StatusCode::kInvalidArgument:
      return WireRejection{"invalid_update",
                           proto::Error::CODE_INVALID_ARGUMENT};
    case common::StatusCode::kResourceExhausted:
      return WireRejection{"too_large", proto::Error::CODE_INVALID_ARGUMENT};
    case common::StatusCode::kDeadlineExceeded:
      // Before the round deadline, only the silence timeout can have fired.
      if (Clock::now() < round_deadline) {
        return WireRejection{"silent", proto::Error::CODE_DEADLINE_EXCEEDED};
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::vector<Coordinator::Impl::Sampled> Coordinator::Impl::Sample(
    std::mt19937_64& rng) {
  auto live = LiveSessions();
  std::vector<Candidate> candidates;
  for (const auto& s : live) {
    candidates.push_back(
        {s->info.name, strategy_->UsesAnchors() && s->info.anchor_expert >= 0});
  }
  RoundDraw draw =
      DrawRound(candidates, opt_.clients_per_round, opt_.anchor_share, rng);
  std::vector<Sampled> out;
  for (size_t i : draw.anchors) out.push_back({live[i], Role::kAnchor});
  for (size_t i : draw.normal) out.push_back({live[i], Role::kNormal});
  return out;
}

// One sampled client's round. A member coroutine, not a lambda: a
// coroutine lambda's captures die with the lambda object.
awaitable<void> Coordinator::Impl::ExchangeWith(std::shared_ptr<Session> s,
                                                Role role, int round,
                                                RoundMetrics& m) {
  const uint64_t sent = s->conn->bytes_sent();
  const uint64_t recv = s->conn->bytes_received();
  const auto deadline = Clock::now() + opt_.round_timeout;
  s->conn->set_frame_timeout(opt_.client_silence_timeout);
  auto u = co_await strategy_->Exchange(*s->conn, summary_.run_id, round,
                                        s->info, role, deadline);
  s->conn->set_frame_timeout(Clock::duration::zero());
  const uint64_t ds = s->conn->bytes_sent() - sent;
  const uint64_t dr = s->conn->bytes_received() - recv;
  m.bytes_sent += ds;
  m.bytes_received += dr;
  if (!u.ok()) {
    s->alive = false;
    auto rejected = RejectionReason(u.status(), deadline);
    if (!rejected) {
      spdlog::warn("client '{}' dropped in round {}: {}", s->info.name, round,
                   u.status().ToString());
      s->conn->Close();
      co_return;
    }
    Status why = u.status();
    if (rejected->reason == "silent") {
      why = why.Annotate("silent past --client-silence-timeout");
    }
    spdlog::warn("update of client '{}' rejected in round {} ({}): {}",
                 s->info.name, round, rejected->reason, why.ToString());
    RecordRejection(round, s->info.name, rejected->reason, why, m);
    co_await common::SendErrorAndClose(*s->conn, summary_.run_id, round,
                                       rejected->code, why.message());
    co_return;
  }
  const StrategyOptions& so = opt_.strategy;
  std::optional<UpdateRejection> rejected;
  if (so.update_checks) {  // off only with --no-update-checks (experiments)
    rejected = ValidateUpdate(u->num_samples, s->info.num_samples,
                              u->train_loss, u->params, u->start,
                              {so.max_update_samples, so.max_update_norm});
  }
  if (!rejected && strategy_->FoldsUpdates()) {
    if (Status st = strategy_->Fold(round, *u); !st.ok()) {
      rejected = UpdateRejection{"invalid_update", st};
    }
  }
  if (rejected) {
    spdlog::warn("update of client '{}' rejected in round {}: {}", s->info.name,
                 round, rejected->status.ToString());
    RecordRejection(round, s->info.name, rejected->reason, rejected->status, m);
    s->alive = false;
    co_await common::SendErrorAndClose(*s->conn, summary_.run_id, round,
                                       proto::Error::CODE_INVALID_ARGUMENT,
                                       rejected->status.message());
    co_return;
  }
  client_bytes_total_ += ds + dr;
  ++client_exchanges_;
  summary_.exchanges.push_back({round, s->info.name, role, u->experts, ds, dr});
  UpdateEvent event;
  event.round = round;
  event.client = s->info.name;
  event.samples = u->num_samples;
  event.train_loss = u->train_loss;
  event.bytes_sent = ds;
  event.bytes_received = dr;
  if (role != Role::kModel && !u->experts.empty()) {
    event.role = role == Role::kAnchor ? "anchor" : "normal";
    event.experts = u->experts;
  }
  Record(event);
  pending_updates_.push_back(std::move(*u));
}

void Coordinator::Impl::PublishModels(
    std::shared_ptr<const ModelSnapshot> snapshot) {
  strategy_->Publish(snapshot);
  if (opt_.on_models_published) opt_.on_models_published(std::move(snapshot));
}

void Coordinator::Impl::RecordRejection(int round, const std::string& client,
                                        const std::string& reason,
                                        const Status& why, RoundMetrics& m) {
  ++m.updates_rejected[reason];
  UpdateRejectedEvent event;
  event.round = round;
  event.client = client;
  event.reason = reason;
  event.message = why.message();
  Record(event);
}

awaitable<Status> Coordinator::Impl::Drive() {
  summary_.initial_params = strategy_->published()->All();
  if (opt_.on_models_published)
    opt_.on_models_published(strategy_->published());
  std::mt19937_64 rng(opt_.strategy.seed);
  int completed = 0;  // rounds over, checkpointed
  if (resume_) {
    FEDJETS_CO_RETURN_IF_ERROR(RestoreSampler(resume_->sampler_state, rng));
    completed = resume_->round;
  } else {
    StartEvent start =
        co_await OnWorkers([this] { return strategy_->StartInfo(); });
    summary_.initial_accuracy = start.test_accuracy;
    start.run_id = summary_.run_id;
    start.seed = opt_.strategy.seed;
    Record(start);
  }
  // Waiting ends early only when the coordinator is stopped.
  if (Status st = co_await WaitForClients(opt_.min_clients);
      !st.ok() && !stopping_) {
    co_return st;
  }
  for (int round = completed + 1; round <= opt_.rounds && !stopping_; ++round) {
    const auto start_time = Clock::now();
    if (Status st = co_await WaitForClients(opt_.min_updates); !st.ok()) {
      if (stopping_) break;
      co_return st;
    }
    std::vector<Sampled> sampled = Sample(rng);
    RoundMetrics m;
    m.round = round;
    m.clients_sampled = static_cast<int>(sampled.size());
    std::vector<ClientUpdate> updates;
    size_t pending = sampled.size();
    boost::asio::steady_timer all_done(io_, Clock::time_point::max());
    for (auto& [s, role] : sampled) {
      boost::asio::co_spawn(
          io_, ExchangeWith(s, role, round, m), [&, s](std::exception_ptr e) {
            LogException("client exchange", e);
            log_.Progress(round, static_cast<int>(pending_updates_.size()),
                          m.clients_sampled);
            if (--pending == 0) all_done.cancel();
          });
    }
    log_.Progress(round, 0, m.clients_sampled);
    while (pending > 0) co_await all_done.async_wait(kTuple);
    NoteConnectedClients();  // without the clients dropped this round
    updates = std::move(pending_updates_);
    pending_updates_.clear();
    // Updates arrive in network order; aggregate in a fixed one so that a
    // seed reproduces a run bit for bit.
    std::sort(updates.begin(), updates.end(),
              [](const auto& a, const auto& b) { return a.client < b.client; });

    m.clients_reported = static_cast<int>(updates.size());
    RoundEvent round_event;
    round_event.round = round;
    if (m.clients_reported >= opt_.min_updates && m.clients_reported > 0) {
      double loss = 0, samples = 0;
      for (auto& u : updates) {
        loss += u.train_loss * static_cast<double>(u.num_samples);
        samples += static_cast<double>(u.num_samples);
      }
      m.train_loss = loss / samples;
      // The worker changes the live models and snapshots them; clients
      // served meanwhile get the snapshot published before, and this one
      // is published once the worker is done.
      auto next = co_await OnWorkers(
          [&]() -> common::Result<std::shared_ptr<const ModelSnapshot>> {
            FEDJETS_RETURN_IF_ERROR(
                strategy_->Aggregate(round, updates, round_event));
            return strategy_->MakeSnapshot(round);
          });
      if (!next.ok()) co_return next.status();
      PublishModels(std::move(*next));
    } else {
      spdlog::warn("round {} void: {} updates, quorum is {}", round,
                   m.clients_reported, opt_.min_updates);
    }
    if (round % opt_.eval_every == 0 || round == opt_.rounds) {
      EvalEvent eval =
          co_await OnWorkers([&] { return strategy_->Evaluate(round); });
      m.test_accuracy = eval.test_accuracy;
      m.unseen_accuracy = eval.accuracy.unseen.value_or(-1.0);
      summary_.final_accuracy = m.test_accuracy;
      summary_.final_seen_accuracy = eval.accuracy.seen.value_or(-1.0);
      summary_.final_unseen_accuracy = m.unseen_accuracy;
      Record(eval);
    }
    m.seconds =
        std::chrono::duration<double>(Clock::now() - start_time).count();
    summary_.rounds.push_back(m);
    round_event.clients_sampled = m.clients_sampled;
    round_event.clients_reported = m.clients_reported;
    round_event.train_loss = m.train_loss;
    round_event.bytes_sent = m.bytes_sent;
    round_event.bytes_received = m.bytes_received;
    round_event.seconds = m.seconds;
    if (!m.updates_rejected.empty()) {
      round_event.updates_rejected = m.updates_rejected;
    }
    if (m.test_accuracy >= 0) round_event.test_accuracy = m.test_accuracy;
    Record(round_event);
    log_.PrintRow(m);
    // A failed checkpoint costs a resume some rounds, not this run.
    if (Status st = co_await SaveCheckpoint(round, rng); !st.ok()) {
      spdlog::warn("round {}: {}", round, st.ToString());
    }
    completed = round;
  }
  if (stopping_ && completed < opt_.rounds) {
    summary_.interrupted = true;
    co_return Status::Ok();
  }
  auto finals = co_await OnWorkers([this] { return strategy_->FinalEvents(); });
  for (auto& e : finals) Record(e);
  summary_.final_params = strategy_->published()->All();
  summary_.full_model_bytes = strategy_->published()->Bytes();
  co_return Status::Ok();
}

}  // namespace fedjets::coordinator
