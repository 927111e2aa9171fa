// Ending a run: Stop() from any thread, Shutdown() on the network thread,
// goodbyes to the clients still connected, and the run directory's final
// models and end event.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>

#include "coordinator/coordinator_impl.h"

namespace fedjets::coordinator {

void Coordinator::Impl::Stop() {
  boost::asio::post(io_, [this] {
    stop_requested_ = true;
    Shutdown();
  });
}

void Coordinator::Impl::Shutdown() {
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  clients_changed_.cancel();
  // The round in progress finishes (within its deadline) and is
  // checkpointed; then every client is told goodbye (Finish).
}

awaitable<void> Coordinator::Impl::SayGoodbye() {
  // Over a copy: each write suspends, and meanwhile sessions_ may change
  // (admission adds no session once finished_ is set, but LiveSessions
  // erases), which would invalidate an iterator into it.
  const std::vector<std::shared_ptr<Session>> snapshot = sessions_;
  // Take every connection back from its heartbeats first, all at once.
  for (const auto& s : snapshot) {
    s->keeper_stop = true;
    s->keeper_wake.cancel();
  }
  for (const auto& s : snapshot) (void)co_await StopHeartbeats(*s);
  for (const auto& s : snapshot) {
    if (!s->alive) continue;
    if (s->busy) {  // a late exchange reads conn: no Goodbye, just close
      s->alive = false;
      s->conn->Close();
      continue;
    }
    // A late exchange that ended during the goodbyes so far restarted its
    // session's heartbeats: take the connection back again.
    if (!co_await StopHeartbeats(*s)) continue;
    proto::Envelope bye = common::MakeEnvelope(summary_.run_id, 0);
    bye.mutable_goodbye()->set_reason(
        !result_.ok()          ? result_.ToString()
        : summary_.interrupted ? "coordinator stopped; the run can resume"
                               : "run complete");
    (void)co_await s->conn->Write(bye, Clock::now() + std::chrono::seconds(5));
    s->conn->Close();
    s->alive = false;
  }
  LiveSessions();  // drops them, and frees their names for --linger
  NoteConnectedClients();
}

awaitable<void> Coordinator::Impl::Finish(boost::asio::signal_set& signals) {
  co_await SayGoodbye();
  if (opt_.linger && result_.ok() && !stop_requested_) {
    spdlog::info(
        "run over; serving just-in-time clients until "
        "stopped (--linger)");
    co_return;  // the acceptor stays open
  }
  Shutdown();
  boost::system::error_code ignored;
  signals.cancel(ignored);
}

Status Coordinator::Impl::SaveRun() {
  FEDJETS_RETURN_IF_ERROR(strategy_->Save(opt_.run_dir));
  EndEvent end;
  end.rounds = summary_.rounds.size();
  end.final_test_accuracy = summary_.final_accuracy;
  end.full_model_bytes = strategy_->published()->Bytes();
  end.bytes_per_client_round =
      client_exchanges_
          ? static_cast<double>(client_bytes_total_) / client_exchanges_
          : 0.0;
  if (summary_.final_seen_accuracy >= 0) {
    end.accuracy.seen = summary_.final_seen_accuracy;
  }
  if (summary_.final_unseen_accuracy >= 0) {
    end.accuracy.unseen = summary_.final_unseen_accuracy;
  }
  if (summary_.final_validation_accuracy >= 0) {
    end.accuracy.validation = summary_.final_validation_accuracy;
  }
  Record(end);
  return Status::Ok();
}

}  // namespace fedjets::coordinator
