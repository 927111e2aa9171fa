// Coordinator's inside, shared by the files that implement it (internal to
// the coordinator library):
//   coordinator.cc           set-up (Prepare) and the run's course (Run);
//   coordinator_admission.cc accepting clients: TLS, Hello, Welcome,
//                            just-in-time serving, waiting for a quorum;
//   coordinator_heartbeats.cc heartbeats with the clients waiting between
//                            round exchanges;
//   coordinator_rounds.cc    the round driver: attempts, quorum, retries;
//   coordinator_exchange.cc  one sampled client's exchange, stale updates;
//   coordinator_shutdown.cc  stopping, goodbyes and the run's end event;
//   coordinator_checkpoint.cc checkpoints after each round, --resume.
//
// Threads: everything but OnWorkers' functions runs on io_'s one thread,
// so the members need no locks; Stop() posts to it. The worker owns the
// strategy's live models; the network thread reads only their published
// snapshot (Strategy::published()).
//
// Sessions across suspension points: sessions_ changes only on io_'s
// thread, and no loop over it spans a co_await (SayGoodbye walks a copy;
// the round driver samples copies of the shared_ptrs, which keep a
// session alive after LiveSessions() erases it).
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/base/status.h"
#include "common/net/asio_coro.h"
#include "common/net/connection.h"
#include "coordinator/accept_backoff.h"
#include "coordinator/checkpoint.h"
#include "coordinator/coordinator.h"
#include "coordinator/identity.h"
#include "coordinator/metrics/events.h"
#include "coordinator/metrics/metrics_server.h"
#include "coordinator/metrics/prometheus_exporter.h"
#include "coordinator/run_log.h"
#include "coordinator/strategy/strategy.h"

namespace fedjets::coordinator {

// Names the coordinator's parts share (this header is theirs alone); the
// Asio ones (awaitable, tcp, kTuple) come from common/net/asio_coro.h.
using common::Clock;
using common::Connection;
using common::Status;

// Logs the exception a detached coroutine ended with, if any.
void LogException(const char* what, std::exception_ptr e);

// Sets `rng` to a checkpoint's sampler_state (as operator<< wrote it).
Status RestoreSampler(const std::string& state, std::mt19937_64& rng);

// How often a client sends a Heartbeat while it works on a round task
// (Welcome.heartbeat_seconds): four times within the silence timeout, so
// a late or lost one does not get it dropped. 0 when the timeout is off.
inline double HeartbeatSeconds(std::chrono::milliseconds silence_timeout) {
  return std::chrono::duration<double>(silence_timeout).count() / 4;
}

class Coordinator::Impl {
 public:
  explicit Impl(CoordinatorOptions o);
  ~Impl();

  Status Prepare();
  Status Run();
  void Stop();
  uint16_t port() const { return port_; }
  uint16_t metrics_port() const {
    return metrics_server_ ? metrics_server_->port() : 0;
  }
  const std::string& run_id() const { return summary_.run_id; }
  const RunSummary& summary() const { return summary_; }

 private:
  // One place under a cap: holds one unit of *count while alive. The
  // counts are declared before io_, so they outlive the coroutine frames
  // and sessions that hold slots.
  class Slot {
   public:
    Slot() = default;
    explicit Slot(int& count) : count_(&count) { ++count; }
    Slot(Slot&& o) noexcept : count_(std::exchange(o.count_, nullptr)) {}
    Slot& operator=(Slot&& o) noexcept {
      Release();
      count_ = std::exchange(o.count_, nullptr);
      return *this;
    }
    ~Slot() { Release(); }
    void Release() {
      if (count_ != nullptr) --*count_;
      count_ = nullptr;
    }

   private:
    int* count_ = nullptr;
  };

  struct Session {
    explicit Session(const boost::asio::any_io_executor& ex)
        : keeper_wake(ex), keeper_news(ex, Clock::time_point::max()) {}
    Slot connection_slot;  // under --max-connections while it lives
    std::unique_ptr<Connection> conn;
    NameClaims::Claim name_claim;  // its client name, while it lives
    SessionInfo info;
    bool alive = true;
    // In a round exchange, maybe one whose round closed without it (its
    // update is read and refused as stale): not sampled, no keeper runs,
    // and no one else reads or writes conn meanwhile.
    bool busy = false;
    bool answers_heartbeats = false;  // Hello.answers_heartbeats

    // Between round exchanges (never while busy) its keeper (KeepAlive)
    // pings the client; while the keeper runs nothing else reads or writes
    // conn.
    bool keeper_running = false;
    bool keeper_stop = false;  // hand conn back after the ping under way
    bool ping_now = false;     // a probe: ping without waiting
    uint64_t pings_answered = 0;
    boost::asio::steady_timer keeper_wake;  // its sleep; cancel to wake it
    // Never expires: cancelled after each answered ping and when the
    // keeper stops, to wake whoever waits for it.
    boost::asio::steady_timer keeper_news;
  };
  struct Sampled {
    std::shared_ptr<Session> session;
    Role role;
  };
  // One attempt at a round, shared by the driver and the attempt's
  // exchanges, which may outlive it (a late client's).
  struct Attempt {
    explicit Attempt(boost::asio::io_context& io) : changed(io) {}
    Clock::time_point deadline;
    int pending = 0;      // exchanges not over
    int sending = 0;      // exchanges still in Strategy::SendTask
    bool closed = false;  // the round went on without the pending ones
    RoundMetrics m;
    std::vector<ClientUpdate> updates;  // accepted, in arrival order
    boost::asio::steady_timer changed;  // cancelled when a count drops
  };

  // Admission (coordinator_admission.cc).
  awaitable<void> AcceptLoop();
  // Whether a just-accepted connection fits under --max-connections; if
  // not, logs (throttled) that it is closed. (--max-pending-handshakes
  // holds back accepting instead: AcceptLoop.)
  bool UnderConnectionCap();
  // Takes a just-accepted connection: closes it beyond --max-connections,
  // otherwise starts Admit with a connection and a handshake slot.
  void StartAdmission(tcp::socket socket);
  awaitable<void> Admit(tcp::socket socket, Slot connection_slot,
                        Slot handshake_slot);
  // Waits until `needed` sessions are free (alive and not busy).
  awaitable<Status> WaitForClients(int needed);
  void Reject(Connection& conn, const Status& why);
  std::vector<std::shared_ptr<Session>> LiveSessions();
  std::vector<std::shared_ptr<Session>> FreeSessions();

  // Heartbeats between round exchanges (coordinator_heartbeats.cc).
  // Starts pinging `s` every Welcome.heartbeat_seconds while it waits for
  // a round, if its Hello asked for it and the silence timeout is on; a
  // client that answers nothing for --client-silence-timeout is dropped.
  void StartHeartbeats(const std::shared_ptr<Session>& s);
  // Stops them and waits until the keeper is off the connection (after at
  // most the ping under way); returns whether `s` is still alive.
  awaitable<bool> StopHeartbeats(Session& s);
  // Pings the live session holding `name` at once and waits, until
  // `deadline`, for its answer, so a name held by a client that is gone
  // (closed, said goodbye) is freed before a new Hello claims it.
  awaitable<void> ProbeHolder(const std::string& name,
                              Clock::time_point deadline);
  awaitable<void> KeepAlive(std::shared_ptr<Session> s);
  // Ends `s` after its keeper found it gone (`why`) or leaving.
  awaitable<void> DropBetweenRounds(std::shared_ptr<Session> s, Status why);

  // Rounds (coordinator_rounds.cc).
  awaitable<Status> Drive();
  // Samples the free clients and runs their exchanges until all reported
  // (or failed) or the round deadline; returns once no exchange touches
  // the strategy any more.
  awaitable<std::shared_ptr<Attempt>> RunAttempt(int round,
                                                 std::mt19937_64& rng);
  // Records a failed attempt (metrics event and log line).
  void RecordFailedAttempt(int round, int attempt, const Attempt* a, int quorum,
                           const std::string& reason, Clock::time_point start);
  std::vector<Sampled> Sample(std::mt19937_64& rng);
  bool warned_few_anchors_ = false;  // Sample's --anchor-share warning
  // The updates refused as stale since the last round event, added to the
  // next one's updates_rejected.
  void TakeStaleCount(std::map<std::string, int>& rejected);
  // Makes `snapshot` what the network sends from now on, and tells
  // opt_.on_models_published.
  void PublishModels(std::shared_ptr<const ModelSnapshot> snapshot);
  // Counts a refused update in the round's updates_rejected and records
  // its update_rejected event (client, round, reason, why).
  void RecordRejection(int round, const std::string& client,
                       const std::string& reason, const Status& why,
                       RoundMetrics& m);
  // Records the update_rejected event alone (a stale update's, counted by
  // TakeStaleCount instead).
  void RecordRejectedEvent(int round, const std::string& client,
                           const std::string& reason, const Status& why);

  // One sampled client's exchange (coordinator_exchange.cc).
  awaitable<void> ExchangeWith(std::shared_ptr<Session> s, Role role, int round,
                               std::shared_ptr<Attempt> a);
  // After its round closed: refuses the update as stale (never folded nor
  // aggregated), or drops the client whose exchange failed.
  void FinishLate(Session& s, int round, const common::Result<ClientUpdate>& u);

  // Checkpoints (coordinator_checkpoint.cc).
  // The settings a run may not change when it resumes, as "flag\nvalue"
  // lines: the strategy's flags, the data and the sampling.
  std::string ConfigFingerprint() const;
  // --resume: the newest usable checkpoint, checked against this run's
  // settings, into resume_ and the run's totals.
  Status LoadResumePoint();
  // Writes round `round`'s checkpoint (the strategy's state is taken on
  // the worker thread).
  awaitable<Status> SaveCheckpoint(int round, const std::mt19937_64& rng);

  // Shutdown (coordinator_shutdown.cc).
  void Shutdown();
  awaitable<void> SayGoodbye();
  // After the driver: goodbyes, then close unless lingering.
  awaitable<void> Finish(boost::asio::signal_set& signals);
  // Saves the final models and records the end event.
  Status SaveRun();

  // Records `event`; a round's event is stamped with the process's
  // resident set size, so the memory of a long run can be followed.
  void Record(Event event);
  // Starts the Prometheus endpoint when opt_.metrics_port asks for one.
  Status StartMetrics();
  // Tells the Prometheus endpoint, if any, how many sessions are alive.
  void NoteConnectedClients();

  template <typename F>
  auto OnWorkers(F f) -> awaitable<decltype(f())> {
    using R = decltype(f());
    return boost::asio::co_spawn(
        workers_,
        [f = std::move(f)]() mutable -> awaitable<R> { co_return f(); },
        boost::asio::use_awaitable);
  }

  CoordinatorOptions opt_;
  // Declared before the sessions and io_, which hold connections that
  // report their traffic to it; null without --metrics-port.
  std::unique_ptr<PrometheusMetrics> metrics_;
  std::unique_ptr<MetricsServer> metrics_server_;
  // Connections open and still before their Hello is checked (see Slot).
  int open_connections_ = 0;
  int pending_handshakes_ = 0;
  LogThrottle cap_log_;
  std::optional<AllowList> allow_list_;  // --allow-list, if given
  NameClaims names_;                     // outlives the sessions too (see Slot)
  boost::asio::io_context io_{1};
  boost::asio::thread_pool workers_{1};
  tcp::acceptor acceptor_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<Strategy> strategy_;
  uint16_t port_ = 0;
  bool stopping_ = false;
  bool stop_requested_ = false;
  bool finished_ = false;
  std::vector<std::shared_ptr<Session>> sessions_;
  boost::asio::steady_timer clients_changed_;  // cancelled when a client joins
  RunLog log_;
  RunSummary summary_;
  Status result_;
  uint64_t client_bytes_total_ = 0;
  int64_t client_exchanges_ = 0;
  int stale_updates_ = 0;             // see TakeStaleCount
  std::optional<Checkpoint> resume_;  // --resume: where from
};

}  // namespace fedjets::coordinator
