// ClientSession: one client's life with the coordinator, internal to
// fedjets_client (RunSession in client/session.h drives it):
//   client/session.cc        connecting, joining, reconnecting, leaving;
//   client/session_rounds.cc the wait for round tasks (answering the
//                            coordinator's heartbeats), training and the
//                            update, and the goodbye of a client that
//                            leaves.
// Thread-safety: runs on the process's network thread only; training runs
// on the trainer thread it is given.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <random>
#include <string>

#include "client/client.h"
#include "client/fedjets_state.h"
#include "client/session.h"
#include "common/learn/model.h"
#include "common/learn/training.h"
#include "common/net/connection.h"

namespace fedjets::client {

class ClientSession {
 public:
  // Everything given must outlive the session.
  ClientSession(const ClientOptions& o, const LocalClient& local,
                std::shared_ptr<ssl::context> tls, asio::thread_pool& trainer,
                ModelCache& cache, LeaveRequest& leave, JoinGate& joins)
      : opt_(o),
        local_(local),
        tls_(std::move(tls)),
        trainer_(trainer),
        cache_(cache),
        leave_(leave),
        joins_(joins) {}

  // Joins, trains until the run ends (joining again after a lost
  // connection, with options.reconnect) or the client leaves.
  awaitable<ClientResult> Run();

 private:
  using Clock = common::Clock;
  using Status = common::Status;

  // session.cc
  awaitable<Status> Connect();
  // Waits about `delay`: jitter spreads the clients of a restarted
  // coordinator apart. A leave request cuts it short.
  awaitable<void> Pause(std::chrono::milliseconds delay);
  // Called on a leave request: ends at once whatever wait can end without
  // harm (a back-off, a connect, a join, the wait for a round task); a
  // round under way finishes first.
  void WakeToLeave();
  // Connects, joins the run and sets up the model; then serves or trains.
  // The handshake and Welcome may take until `join_deadline` (at least
  // --handshake-timeout).
  awaitable<Status> Session(common::Clock::time_point join_deadline);
  // Checks that local data fits the federation's model and keeps its spec.
  Status CheckModel(const proto::ModelConfig& m);
  // A broken or timed-out connection, as opposed to a refusal or an error.
  static bool IsConnectionLoss(const Status& st);

  // session_rounds.cc
  // Trains for every round task until the coordinator says goodbye,
  // answering its heartbeats in between; says goodbye itself when asked
  // to leave.
  awaitable<Status> RoundLoop();
  // Between rounds the coordinator asks whether we are there.
  awaitable<Status> AnswerHeartbeat(int64_t round);
  // Why waiting for a round task failed, in words a user can act on.
  Status ExplainIdleFailure(const Status& st, Clock::time_point idle_deadline);
  // Leaves the run: tells the coordinator (which frees our name) and
  // closes.
  awaitable<Status> SayGoodbye();
  // Trains for one round task and answers with an Update and the trained
  // parameters.
  awaitable<Status> TrainRound(const proto::Envelope& e);
  // FedAvg/FedProx: trains the whole model, starting from `params`.
  awaitable<common::Result<TrainedRound>> TrainModel(
      int64_t round, const common::ParameterList& params,
      const common::TrainOptions& o);

  const ClientOptions& opt_;
  const LocalClient& local_;
  std::mt19937 jitter_rng_{std::random_device{}()};
  std::shared_ptr<ssl::context> tls_;
  asio::thread_pool& trainer_;
  ModelCache& cache_;
  LeaveRequest& leave_;
  JoinGate& joins_;
  std::unique_ptr<common::Connection> conn_;
  asio::steady_timer* pause_ = nullptr;  // Run()'s back-off timer
  tcp::socket* connecting_ = nullptr;    // while a TCP connect is under way
  bool idle_reading_ = false;            // waiting for a round task
  std::string run_id_;
  bool joined_ = false;
  proto::Error::Code refusal_ = proto::Error::CODE_UNSPECIFIED;
  int64_t round_ = 0;
  Clock::duration heartbeat_{};  // Welcome.heartbeat_seconds
  Clock::duration silence_{};    // Welcome.silence_seconds
  ClientResult result_;
  common::ModelSpec spec_;
  common::Classifier model_;               // fedavg/fedprox
  std::unique_ptr<FedJetsState> fedjets_;  // fedjets
};

}  // namespace fedjets::client
