// Heartbeats: while a session's work for a round task runs on the training
// thread (choosing experts, training, or waiting for the thread behind
// other virtual clients), it tells the coordinator it is still there, so
// the coordinator's silence deadline (--client-silence-timeout) drops only
// clients that have really gone quiet. The coordinator sets the interval
// in Welcome.heartbeat_seconds; docs/PROTOCOL.md, "Limits". Between round
// exchanges the coordinator pings and the client answers (the round loop
// in client/session.cc); a coordinator silent for Welcome.silence_seconds
// is taken for gone (SilenceBound).
//
// Thread-safety: runs on the session's network thread; the connection must
// not be read or written by anything else while the work runs.
#pragma once

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "common/base/status.h"
#include "common/net/asio_coro.h"
#include "common/net/connection.h"
#include "proto/fedjets.pb.h"

namespace fedjets::client {

// The interval a Welcome asks for: zero when heartbeat_seconds is 0 (or
// absent), at least 100 ms otherwise. A negative or non-finite value is
// refused.
common::Result<common::Clock::duration> HeartbeatInterval(
    const proto::Welcome& welcome);

// How long the client waits for any frame from the coordinator before it
// takes the connection for broken (Welcome.silence_seconds): zero when 0
// (or absent: an older coordinator), at least 1 s otherwise. A negative or
// non-finite value is refused.
common::Result<common::Clock::duration> SilenceBound(
    const proto::Welcome& welcome);

// Sends one Heartbeat of `round`, bounded by `deadline`.
awaitable<common::Status> SendHeartbeat(common::Connection& conn,
                                        const std::string& run_id,
                                        int64_t round,
                                        common::Clock::time_point deadline);

// Runs `f` on the training thread and resumes with its result, like
// OnTrainer (client/session.h); meanwhile, with a positive `every`, sends
// a Heartbeat of `round` on `conn` each time `every` passes. A heartbeat
// that cannot be written stops the heartbeats, not the work: the message
// that follows it fails on the same connection and says why.
template <typename F>
auto OnTrainerWithHeartbeats(asio::thread_pool& trainer,
                             common::Connection& conn,
                             const std::string& run_id, int64_t round,
                             common::Clock::duration every, F f)
    -> awaitable<decltype(f())> {
  using R = decltype(f());
  auto work = [f = std::move(f)]() mutable -> awaitable<R> { co_return f(); };
  if (every <= common::Clock::duration::zero()) {
    co_return co_await asio::co_spawn(trainer, std::move(work),
                                      asio::use_awaitable);
  }
  auto ex = co_await asio::this_coro::executor;
  std::optional<R> result;
  std::exception_ptr error;
  bool done = false;
  asio::steady_timer wake(ex);
  // The handler runs on this coroutine's executor, which outlives it: this
  // frame waits below until it has run.
  asio::co_spawn(trainer, std::move(work),
                 asio::bind_executor(ex, [&](std::exception_ptr e, R r) {
                   error = e;
                   if (!e) result.emplace(std::move(r));
                   done = true;
                   wake.cancel();
                 }));
  bool beating = true;
  while (!done) {
    if (beating) {
      wake.expires_after(every);
    } else {
      wake.expires_at(common::Clock::time_point::max());
    }
    co_await wake.async_wait(kTuple);
    if (done || !beating) continue;
    const common::Status sent = co_await SendHeartbeat(
        conn, run_id, round, common::Clock::now() + every);
    beating = sent.ok();
  }
  if (error) std::rethrow_exception(error);
  co_return std::move(*result);
}

}  // namespace fedjets::client
