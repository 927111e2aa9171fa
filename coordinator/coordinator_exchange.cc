// One sampled client's round exchange: the task out (Strategy::SendTask),
// the update back (ReceiveClientUpdate), its checks and its record. An
// exchange whose round closed at the deadline without it goes on reading
// the update and refuses it as stale (docs/OPERATIONS.md, "Deadlines and
// quorum").
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>
#include <string>

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
                                             Clock::time_point deadline) {
  switch (st.code()) {
    case common::StatusCode::kInvalidArgument:
      return WireRejection{"invalid_update",
                           proto::Error::CODE_INVALID_ARGUMENT};
    case common::StatusCode::kResourceExhausted:
      return WireRejection{"too_large", proto::Error::CODE_INVALID_ARGUMENT};
    case common::StatusCode::kDeadlineExceeded:
      // Before the deadline, only the silence timeout can have fired.
      if (Clock::now() < deadline) {
        return WireRejection{"silent", proto::Error::CODE_DEADLINE_EXCEEDED};
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// Marks the end of an exchange's SendTask for the driver, also when the
// exchange ends by an exception.
class SendingCount {
 public:
  explicit SendingCount(int& sending, boost::asio::steady_timer& changed)
      : sending_(&sending), changed_(changed) {}
  ~SendingCount() { Done(); }
  void Done() {
    if (sending_ == nullptr) return;
    --*sending_;
    sending_ = nullptr;
    changed_.cancel();
  }

 private:
  int* sending_;
  boost::asio::steady_timer& changed_;
};

}  // namespace

// A member coroutine, not a lambda: a coroutine lambda's captures die with
// the lambda object.
awaitable<void> Coordinator::Impl::ExchangeWith(std::shared_ptr<Session> s,
                                                Role role, int round,
                                                std::shared_ptr<Attempt> a) {
  SendingCount sending(a->sending, a->changed);
  // Take the connection back from its heartbeats (after the ping under
  // way). Found gone while it waited: its keeper has logged why.
  if (!co_await StopHeartbeats(*s)) {
    s->busy = false;
    if (!a->closed) ++a->m.clients_dropped;
    co_return;
  }
  const uint64_t sent = s->conn->bytes_sent();
  const uint64_t recv = s->conn->bytes_received();
  s->conn->set_frame_timeout(opt_.client_silence_timeout);
  auto task = co_await strategy_->SendTask(*s->conn, summary_.run_id, round,
                                           s->info, role, a->deadline);
  sending.Done();
  // The client has all it needs: the round may close without it (at its
  // deadline), but the update is read for one more --round-timeout so the
  // client stays connected; it is then refused as stale.
  const auto update_deadline = a->deadline + opt_.round_timeout;
  common::Result<ClientUpdate> u;
  if (task.ok()) {
    u = co_await ReceiveClientUpdate(*s->conn, summary_.run_id, round, s->info,
                                     std::move(*task), update_deadline);
  } else {
    u = task.status();
  }
  s->conn->set_frame_timeout(Clock::duration::zero());
  // All of the exchange's bytes are read: the connection is free again.
  s->busy = false;
  if (a->closed) {
    FinishLate(*s, round, u);
    StartHeartbeats(s);  // if still connected, it waits for a round again
    co_return;
  }
  RoundMetrics& m = a->m;
  const uint64_t ds = s->conn->bytes_sent() - sent;
  const uint64_t dr = s->conn->bytes_received() - recv;
  m.bytes_sent += ds;
  m.bytes_received += dr;
  if (!u.ok()) {
    s->alive = false;
    auto rejected =
        RejectionReason(u.status(), task.ok() ? update_deadline : a->deadline);
    if (!rejected) {
      spdlog::warn("client '{}' dropped in round {}: {}", s->info.name, round,
                   u.status().ToString());
      ++m.clients_dropped;
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
  // Folded only here, while the attempt is open (a->closed was checked
  // with no suspension since): a late update is never folded, and nothing
  // folds while the worker aggregates.
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
  a->updates.push_back(std::move(*u));
  StartHeartbeats(s);  // it waits for its next round
}

void Coordinator::Impl::FinishLate(Session& s, int round,
                                   const common::Result<ClientUpdate>& u) {
  if (!s.alive) return;  // closed at the end of the run
  if (u.ok()) {
    ++stale_updates_;
    spdlog::warn(
        "update of client '{}' for round {} rejected as stale: it came after "
        "the round closed at its deadline (--round-timeout); the client may "
        "be sampled again",
        s.info.name, round);
    RecordRejectedEvent(
        round, s.info.name, "stale",
        common::FailedPrecondition(
            "the update came after its round closed at its deadline"));
    clients_changed_.cancel();  // it is free again
    return;
  }
  spdlog::warn("client '{}' dropped after round {} closed without it: {}",
               s.info.name, round, u.status().ToString());
  s.alive = false;
  s.conn->Close();
}

}  // namespace fedjets::coordinator
