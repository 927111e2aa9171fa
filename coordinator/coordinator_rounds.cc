// The round driver: each round samples clients, runs their exchanges
// concurrently until all reported or the deadline, and with a quorum of
// updates aggregates and evaluates on the worker thread and records the
// round; below quorum the round is tried again with a fresh sample, up to
// --max-failed-rounds attempts (docs/OPERATIONS.md, "Deadlines and
// quorum").
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "coordinator/client_sampling.h"
#include "coordinator/coordinator_impl.h"

namespace fedjets::coordinator {

std::vector<Coordinator::Impl::Sampled> Coordinator::Impl::Sample(
    std::mt19937_64& rng) {
  auto free = FreeSessions();
  std::vector<Candidate> candidates;
  for (const auto& s : free) {
    candidates.push_back(
        {s->info.name, strategy_->UsesAnchors() && s->info.anchor_expert >= 0});
  }
  RoundDraw draw =
      DrawRound(candidates, opt_.clients_per_round, opt_.anchor_share, rng);
  if (strategy_->UsesAnchors() && !warned_few_anchors_ &&
      static_cast<int>(draw.anchors.size()) < draw.anchors_wanted) {
    // Once a run: a larger share cannot give the experts more anchor steps.
    warned_few_anchors_ = true;
    spdlog::warn(
        "--anchor-share {} asks for {} anchor clients in a round of {}, but "
        "only {} are free: the round takes them all and fills up with "
        "normal clients, so a share above {:.2f} changes nothing here (more "
        "anchor steps need more anchor clients)",
        opt_.anchor_share, draw.anchors_wanted,
        draw.anchors.size() + draw.normal.size(), draw.anchors.size(),
        static_cast<double>(draw.anchors.size()) /
            std::max<size_t>(1, draw.anchors.size() + draw.normal.size()));
  }
  std::vector<Sampled> out;
  for (size_t i : draw.anchors) out.push_back({free[i], Role::kAnchor});
  for (size_t i : draw.normal) out.push_back({free[i], Role::kNormal});
  return out;
}

awaitable<std::shared_ptr<Coordinator::Impl::Attempt>>
Coordinator::Impl::RunAttempt(int round, std::mt19937_64& rng) {
  auto a = std::make_shared<Attempt>(io_);
  a->deadline = Clock::now() + opt_.round_timeout;
  a->m.round = round;
  std::vector<Sampled> sampled = Sample(rng);
  a->m.clients_sampled = static_cast<int>(sampled.size());
  a->pending = a->sending = a->m.clients_sampled;
  // --streaming-aggregation: a failed attempt's folded updates are not
  // this one's.
  strategy_->DiscardFolded();
  for (auto& [s, role] : sampled) {
    s->busy = true;
    boost::asio::co_spawn(io_, ExchangeWith(s, role, round, a),
                          [this, a, round](std::exception_ptr e) {
                            LogException("client exchange", e);
                            --a->pending;
                            if (!a->closed) {
                              log_.Progress(round,
                                            static_cast<int>(a->updates.size()),
                                            a->m.clients_sampled);
                            }
                            a->changed.cancel();
                          });
  }
  log_.Progress(round, 0, a->m.clients_sampled);
  while (a->pending > 0 && Clock::now() < a->deadline) {
    a->changed.expires_at(a->deadline);
    co_await a->changed.async_wait(kTuple);
  }
  a->closed = true;
  // An exchange still sending its task fails at this same deadline; the
  // strategy is aggregated only once none of them reads it.
  while (a->sending > 0) {
    a->changed.expires_at(Clock::time_point::max());
    co_await a->changed.async_wait(kTuple);
  }
  a->m.clients_late = a->pending;
  if (a->m.clients_late > 0) {
    spdlog::warn(
        "round {} closed at its deadline (--round-timeout) without {} of "
        "its {} clients; their updates will be refused as stale",
        round, a->m.clients_late, a->m.clients_sampled);
  }
  NoteConnectedClients();  // without the clients dropped this round
  co_return a;
}

void Coordinator::Impl::TakeStaleCount(std::map<std::string, int>& rejected) {
  if (stale_updates_ > 0) rejected["stale"] += stale_updates_;
  stale_updates_ = 0;
}

void Coordinator::Impl::RecordFailedAttempt(int round, int attempt,
                                            const Attempt* a, int quorum,
                                            const std::string& reason,
                                            Clock::time_point start) {
  RoundFailedEvent e;
  e.round = round;
  e.attempt = attempt;
  e.quorum = quorum;
  e.reason = reason;
  e.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::map<std::string, int> rejected;
  if (a != nullptr) {
    e.clients_sampled = a->m.clients_sampled;
    e.clients_reported = static_cast<int>(a->updates.size());
    if (a->m.clients_dropped > 0) e.clients_dropped = a->m.clients_dropped;
    if (a->m.clients_late > 0) e.clients_late = a->m.clients_late;
    rejected = a->m.updates_rejected;
  }
  TakeStaleCount(rejected);
  if (!rejected.empty()) e.updates_rejected = rejected;
  Record(e);
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
  RecordRejectedEvent(round, client, reason, why);
}

void Coordinator::Impl::RecordRejectedEvent(int round,
                                            const std::string& client,
                                            const std::string& reason,
                                            const Status& why) {
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
    std::shared_ptr<Attempt> a;
    int attempt = 1;
    for (;; ++attempt) {
      std::string failure;
      int quorum = opt_.quorum.min_updates;
      a.reset();
      if (Status st = co_await WaitForClients(quorum); !st.ok()) {
        if (stopping_) {
          // Keep the draws of the failed attempts: a resumed run samples
          // afresh.
          if (attempt == 1) break;
          if (Status saved = co_await SaveCheckpoint(completed, rng);
              !saved.ok()) {
            spdlog::warn("round {}: {}", round, saved.ToString());
          }
          break;
        }
        failure = st.message();
      } else {
        a = co_await RunAttempt(round, rng);
        quorum = EffectiveQuorum(opt_.quorum, a->m.clients_sampled);
        const int reported = static_cast<int>(a->updates.size());
        if (reported >= quorum) break;
        failure = fmt::format("{} of {} sampled clients reported; quorum is {}",
                              reported, a->m.clients_sampled, quorum);
      }
      RecordFailedAttempt(round, attempt, a.get(), quorum, failure, start_time);
      a.reset();
      if (stopping_ || attempt >= opt_.quorum.max_failed_rounds) {
        // Keep the draws made: a resumed run samples afresh.
        if (Status st = co_await SaveCheckpoint(completed, rng); !st.ok()) {
          spdlog::warn("round {}: {}", round, st.ToString());
        }
        if (stopping_) break;
        summary_.below_quorum = true;
        co_return common::FailedPrecondition(fmt::format(
            "round {} failed {} attempts in a row (--max-failed-rounds): {}",
            round, attempt, failure));
      }
      spdlog::warn(
          "round {} attempt {} failed: {}; retrying with a fresh sample "
          "(attempt {} of at most {})",
          round, attempt, failure, attempt + 1, opt_.quorum.max_failed_rounds);
    }
    if (!a) break;  // stopped while below quorum
    RoundMetrics& m = a->m;
    m.attempts = attempt;
    std::vector<ClientUpdate> updates = std::move(a->updates);
    // Updates arrive in network order; aggregate in a fixed one so that a
    // seed reproduces a run bit for bit.
    std::sort(updates.begin(), updates.end(),
              [](const auto& x, const auto& y) { return x.client < y.client; });

    m.clients_reported = static_cast<int>(updates.size());
    RoundEvent round_event;
    round_event.round = round;
    double loss = 0, samples = 0;
    for (auto& u : updates) {
      loss += u.train_loss * static_cast<double>(u.num_samples);
      samples += static_cast<double>(u.num_samples);
    }
    m.train_loss = loss / samples;
    // The worker changes the live models and snapshots them; clients
    // served meanwhile (and late exchanges, whose updates are refused as
    // stale) hold the snapshot published before, and this one is
    // published once the worker is done.
    auto next = co_await OnWorkers(
        [&]() -> common::Result<std::shared_ptr<const ModelSnapshot>> {
          FEDJETS_RETURN_IF_ERROR(
              strategy_->Aggregate(round, updates, round_event));
          return strategy_->MakeSnapshot(round);
        });
    if (!next.ok()) co_return next.status();
    PublishModels(std::move(*next));
    if (round % opt_.eval_every == 0 || round == opt_.rounds) {
      EvalEvent eval =
          co_await OnWorkers([&] { return strategy_->Evaluate(round); });
      m.test_accuracy = eval.test_accuracy;
      m.unseen_accuracy = eval.accuracy.unseen.value_or(-1.0);
      m.validation_accuracy = eval.accuracy.validation.value_or(-1.0);
      summary_.final_accuracy = m.test_accuracy;
      summary_.final_seen_accuracy = eval.accuracy.seen.value_or(-1.0);
      summary_.final_unseen_accuracy = m.unseen_accuracy;
      summary_.final_validation_accuracy = m.validation_accuracy;
      Record(eval);
    }
    m.seconds =
        std::chrono::duration<double>(Clock::now() - start_time).count();
    TakeStaleCount(m.updates_rejected);
    summary_.rounds.push_back(m);
    round_event.clients_sampled = m.clients_sampled;
    round_event.clients_reported = m.clients_reported;
    round_event.train_loss = m.train_loss;
    round_event.bytes_sent = m.bytes_sent;
    round_event.bytes_received = m.bytes_received;
    round_event.seconds = m.seconds;
    if (m.attempts > 1) round_event.attempts = m.attempts;
    if (m.clients_dropped > 0) round_event.clients_dropped = m.clients_dropped;
    if (m.clients_late > 0) round_event.clients_late = m.clients_late;
    if (!m.updates_rejected.empty()) {
      round_event.updates_rejected = m.updates_rejected;
    }
    if (m.test_accuracy >= 0) round_event.test_accuracy = m.test_accuracy;
    if (m.validation_accuracy >= 0) {
      round_event.validation_accuracy = m.validation_accuracy;
    }
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
