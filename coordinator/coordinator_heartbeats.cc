// Heartbeats with the clients that wait between round exchanges
// (docs/PROTOCOL.md, "Heartbeats"): a keeper coroutine per waiting session
// sends a Heartbeat every Welcome.heartbeat_seconds and reads the answer,
// so a client that died, froze or left is found within
// --client-silence-timeout, not when it is next sampled, and its name is
// freed for its reconnect.
//
// The keeper is the only user of the session's connection while it runs:
// it reads only the answer to its own ping, and the round driver
// (StopHeartbeats) and the goodbyes take the connection back only once the
// ping under way has been answered, so reads never overlap and no answer is
// left for the exchange to trip over.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/base/log_quote.h"
#include "coordinator/coordinator_impl.h"
#include "coordinator/strategy/strategy_context.h"
#include "coordinator/validation.h"

namespace fedjets::coordinator {

void Coordinator::Impl::StartHeartbeats(const std::shared_ptr<Session>& s) {
  // Never on a busy session: its exchange (maybe a late one) still reads
  // conn, and the keeper would take its Update for an unexpected message.
  if (!s->answers_heartbeats || !s->alive || s->busy || s->keeper_running ||
      opt_.client_silence_timeout <= Clock::duration::zero()) {
    return;
  }
  s->keeper_running = true;
  s->keeper_stop = false;
  s->ping_now = false;
  boost::asio::co_spawn(io_, KeepAlive(s), [](std::exception_ptr e) {
    LogException("heartbeats", e);
  });
}

awaitable<bool> Coordinator::Impl::StopHeartbeats(Session& s) {
  s.keeper_stop = true;
  s.keeper_wake.cancel();
  while (s.keeper_running) co_await s.keeper_news.async_wait(kTuple);
  co_return s.alive;
}

awaitable<void> Coordinator::Impl::ProbeHolder(const std::string& name,
                                               Clock::time_point deadline) {
  std::shared_ptr<Session> holder;
  for (const auto& s : sessions_) {
    if (s->alive && s->info.name == name) holder = s;
  }
  // A holder in a round exchange is judged by the exchange's own limits.
  if (!holder || !holder->keeper_running) co_return;
  const uint64_t answered = holder->pings_answered;
  holder->ping_now = true;
  holder->keeper_wake.cancel();
  boost::asio::steady_timer alarm(io_, deadline);
  alarm.async_wait([holder](boost::system::error_code ec) {
    if (!ec) holder->keeper_news.cancel();
  });
  while (holder->keeper_running && holder->pings_answered == answered &&
         Clock::now() < deadline) {
    co_await holder->keeper_news.async_wait(kTuple);
  }
  alarm.cancel();
}

awaitable<void> Coordinator::Impl::KeepAlive(std::shared_ptr<Session> s) {
  // As often as clients send theirs in a round, and no more than ten a
  // second.
  const auto every = std::max<Clock::duration>(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
          HeartbeatSeconds(opt_.client_silence_timeout))),
      std::chrono::milliseconds(100));
  Clock::time_point last_heard = Clock::now();
  Status why;
  std::optional<std::string> goodbye;
  while (s->alive && !s->keeper_stop) {
    if (!s->ping_now) {
      s->keeper_wake.expires_after(every);
      co_await s->keeper_wake.async_wait(kTuple);
      if (!s->alive || s->keeper_stop) break;
    }
    s->ping_now = false;
    // The client must answer within the silence timeout of its last answer.
    const Clock::time_point deadline = last_heard + opt_.client_silence_timeout;
    proto::Envelope ping = common::MakeEnvelope(summary_.run_id, 0);
    ping.mutable_heartbeat();
    why = co_await s->conn->Write(ping, deadline);
    if (!why.ok()) break;
    auto answer = co_await s->conn->Read(deadline, kMaxClientMessageBytes);
    if (!answer.ok()) {
      why = answer.status();
      break;
    }
    why = common::CheckEnvelope(*answer, summary_.run_id, 0);
    if (!why.ok()) break;
    if (answer->has_goodbye()) {
      goodbye = answer->goodbye().reason();
      break;
    }
    if (!answer->has_heartbeat()) {
      why = common::InvalidArgument(fmt::format(
          "expected a Heartbeat between rounds, got message kind {}",
          static_cast<int>(answer->body_case())));
      break;
    }
    last_heard = Clock::now();
    ++s->pings_answered;
    s->keeper_news.cancel();
  }
  if (s->alive && goodbye) {
    spdlog::info("client '{}' said goodbye between rounds: {}", s->info.name,
                 common::QuoteForLog(*goodbye));
    s->alive = false;
    s->conn->Close();
    LiveSessions();  // frees its name
    NoteConnectedClients();
  } else if (s->alive && !why.ok()) {
    co_await DropBetweenRounds(s, why);
  }
  s->keeper_running = false;
  s->keeper_news.cancel();
}

awaitable<void> Coordinator::Impl::DropBetweenRounds(std::shared_ptr<Session> s,
                                                     Status why) {
  s->alive = false;
  switch (why.code()) {
    case common::StatusCode::kDeadlineExceeded:
      why = why.Annotate(fmt::format(
          "silent for {:g} s between rounds (--client-silence-timeout)",
          std::chrono::duration<double>(opt_.client_silence_timeout).count()));
      spdlog::warn("client '{}' dropped: {}", s->info.name, why.ToString());
      co_await common::SendErrorAndClose(*s->conn, summary_.run_id, 0,
                                         proto::Error::CODE_DEADLINE_EXCEEDED,
                                         why.message());
      break;
    case common::StatusCode::kInvalidArgument:
    case common::StatusCode::kResourceExhausted:
      spdlog::warn("client '{}' dropped between rounds: {}", s->info.name,
                   why.ToString());
      co_await common::SendErrorAndClose(*s->conn, summary_.run_id, 0,
                                         proto::Error::CODE_INVALID_ARGUMENT,
                                         why.message());
      break;
    default:  // closed, or reported an error of its own
      spdlog::warn("client '{}' dropped between rounds: {}", s->info.name,
                   why.ToString());
      s->conn->Close();
  }
  LiveSessions();  // frees its name for a reconnect
  NoteConnectedClients();
}

}  // namespace fedjets::coordinator
