// The coordinator: accepts clients over (m)TLS, runs federated rounds of a
// Strategy (FedAvg, FedProx or FedJETs), serves just-in-time clients and
// writes the run directory.
//
// Threads: one io_context thread runs the accept loop, every client
// session and the round driver as coroutines, so session state needs no
// locks. Aggregation and evaluation run on a worker thread and are awaited,
// so the network never blocks on them; what the network sends comes from
// the models' snapshot published after each round (Strategy::Publish), so
// a client served while a round aggregates gets the models before it,
// whole. Stop() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/data/dataset_source.h"
#include "common/net/connection.h"
#include "common/net/tls.h"
#include "coordinator/quorum.h"
#include "coordinator/strategy/strategy.h"

namespace fedjets::coordinator {

struct CoordinatorOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 7000;  // 0 picks a free port (see Coordinator::port())
  bool insecure = false;
  common::TlsFiles tls;
  common::ConnectionLimits limits;

  int rounds = 5;
  int min_clients = 2;        // wait for this many before round 1
  int clients_per_round = 0;  // 0 = every connected client
  double anchor_share = 0.5;  // FedJETs: share of a round's clients that
                              // are anchors
  // Updates a round needs; below it the round is retried with a fresh
  // sample, and after max_failed_rounds attempts in a row the run stops.
  QuorumOptions quorum;

  StrategyOptions strategy;    // algorithm, models, local recipe
  common::DatasetSource data;  // its test split is evaluated
  // Simulation layout, to evaluate seen/unseen clients: the partition and
  // number of clients the client processes use (0 = no evaluation clients).
  std::string partition = "iid";
  int num_clients = 0;
  // Validation clients of the layout (common/data/federation_split.h),
  // drawn from validation_fraction of the training split, which the
  // clients must hold out too (fedjets-client --validation-fraction).
  // 0 = none: no cut.
  int validation_clients = 0;
  double validation_fraction = 0.1;
  int eval_every = 1;

  // Beyond these, a new connection is closed at once (docs/PROTOCOL.md,
  // "Limits"): every open client connection, and those still in the TLS
  // handshake or before their Hello has been checked.
  int max_connections = 20'000;
  int max_pending_handshakes = 256;
  std::chrono::milliseconds handshake_timeout{10'000};
  // File of the client names (and anchors) admitted; empty = every holder
  // of a certificate from the run's CA (docs/OPERATIONS.md, "Allow-list").
  std::string allow_list;
  // A round closes when every sampled client reported or at this
  // deadline (from its start); a client still training then may finish,
  // and its update is refused as stale (docs/OPERATIONS.md, "Deadlines and
  // quorum").
  std::chrono::milliseconds round_timeout{300'000};
  // A sampled client that sends (or reads) nothing for this long in its
  // round exchange is dropped; clients send a Heartbeat every quarter of
  // it while they train (Welcome.heartbeat_seconds). Between exchanges the
  // coordinator sends a Heartbeat every quarter of it to each client whose
  // Hello set answers_heartbeats and drops one that has answered nothing
  // for this long (Welcome.silence_seconds). 0 turns both off.
  std::chrono::milliseconds client_silence_timeout{60'000};
  std::chrono::milliseconds wait_clients_timeout{600'000};
  // After the last round keep serving just-in-time clients until stopped.
  bool linger = false;

  // Prometheus metrics at http://metrics_address:metrics_port/metrics,
  // plain HTTP (docs/OPERATIONS.md, "Prometheus endpoint"): none when
  // metrics_port is empty; 0 picks a free port (see metrics_port()).
  std::string metrics_address = "127.0.0.1";
  std::optional<uint16_t> metrics_port;

  // Called on the network thread with each snapshot of the global models
  // as it is published: the initial (or resumed) models when the run
  // starts, then each round's after its aggregation. For tests and
  // programs that embed the coordinator; must not block.
  std::function<void(std::shared_ptr<const ModelSnapshot>)> on_models_published;

  std::string run_dir;  // empty = write nothing (and no checkpoints)
  // Continue the run in run_dir from its newest usable checkpoint
  // (coordinator/checkpoint.h); the settings it fingerprints must match.
  bool resume = false;
  std::string run_id;  // empty = generated
  bool print_table = true;
  bool handle_signals = false;  // SIGINT/SIGTERM stop the run cleanly
};

struct RoundMetrics {
  int round = 0;
  int clients_sampled = 0;
  int clients_reported = 0;
  int attempts = 1;         // 1 + the attempts retried below quorum
  int clients_dropped = 0;  // exchanges that failed (lost, errors, deadline)
  int clients_late = 0;     // still training when the round closed
  double train_loss = 0.0;
  double test_accuracy = -1.0;  // -1 when not evaluated this round
  double unseen_accuracy = -1.0;
  double validation_accuracy = -1.0;  // -1 without validation clients
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  double seconds = 0.0;
  // Updates refused, by reason: by ValidateUpdate
  // (coordinator/validation.h), or on the wire ("invalid_update",
  // "too_large", "silent"; RejectionReason in coordinator_exchange.cc),
  // and "stale": updates that came after their round had closed.
  std::map<std::string, int> updates_rejected;
};

// One client's round as the coordinator saw it.
struct ExchangeRecord {
  int round = 0;
  std::string client;
  Role role = Role::kModel;
  std::vector<int> experts;
  uint64_t bytes_sent = 0;      // coordinator -> client
  uint64_t bytes_received = 0;  // client -> coordinator
};

struct RunSummary {
  std::string run_id;
  common::ParameterList initial_params;
  common::ParameterList final_params;
  std::vector<RoundMetrics> rounds;
  std::vector<ExchangeRecord> exchanges;
  uint64_t full_model_bytes = 0;  // everything a client could be sent
  double initial_accuracy = 0.0;
  double final_accuracy = 0.0;
  double final_seen_accuracy = -1.0;
  double final_unseen_accuracy = -1.0;
  double final_validation_accuracy = -1.0;
  int rejected_connections = 0;
  // Times the accept loop found every --max-pending-handshakes slot taken
  // and left new connections waiting in the listen backlog.
  int handshake_slot_waits = 0;
  int served_clients = 0;
  int resumed_after_round = 0;  // the checkpoint's round, 0 if not resumed
  // Stopped (Stop(), SIGINT, SIGTERM) before the last round: the run
  // directory's newest checkpoint is where --resume continues.
  bool interrupted = false;
  // Stopped after --max-failed-rounds attempts in a row below quorum;
  // Run() then fails, and the newest checkpoint is where --resume goes on.
  bool below_quorum = false;
};

// fedjets-coordinator's exit status when the run stopped below quorum
// (RunSummary::below_quorum); fedjets-sim recognises it.
inline constexpr int kExitBelowQuorum = 3;

class Coordinator {
 public:
  explicit Coordinator(CoordinatorOptions options);
  ~Coordinator();

  // Loads data, builds the strategy (pretraining the common expert if
  // asked) and binds the listening socket, so port() is known before Run().
  common::Status Prepare();
  uint16_t port() const;
  // The port /metrics is served on after Prepare(); 0 when there is none.
  uint16_t metrics_port() const;
  const std::string& run_id() const;

  // Runs every round and returns when the run is over (or, with linger,
  // when Stop() is called).
  common::Status Run();
  void Stop();

  const RunSummary& summary() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedjets::coordinator
