// A federated algorithm as the coordinator runs it: what a client is told
// on joining, what one client's round exchange looks like on the wire,
// how updates are aggregated and how the global state is evaluated.
// FedAvg/FedProx and FedJETs implement it
// (coordinator/strategy/fedavg_strategy.cc,
// coordinator/strategy/fedjets_strategy.h).
//
// Threads: Exchange/AfterWelcome/Serve run on the coordinator's network
// thread; Aggregate/Evaluate/Baselines on its worker thread, never at the
// same time as an Exchange (the round driver awaits each phase).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/data/dataset.h"
#include "common/data/federation_split.h"
#include "common/net/connection.h"
#include "coordinator/metrics/events.h"
#include "coordinator/strategy/strategy_options.h"
#include "proto/fedjets.pb.h"

namespace fedjets::coordinator {

struct SessionInfo {
  std::string name;
  int64_t num_samples = 0;
  int anchor_expert = -1;
  std::vector<std::string> cached_models;
};

enum class Role { kModel, kAnchor, kNormal };

struct ClientUpdate {
  std::string client;
  int64_t num_samples = 0;
  double train_loss = 0.0;
  common::ParameterList params;
  Role role = Role::kModel;
  std::vector<int> experts;  // fedjets: experts the client trained
  // What the client was sent to train from, in the order of `params`, so
  // that params - start is its update delta. Kept only when the options
  // need the delta (KeepsUpdateStart); empty otherwise.
  common::ParameterList start;
};

class Strategy {
 public:
  virtual ~Strategy() = default;

  // Whether sampled clients split into anchors and normal clients.
  virtual bool UsesAnchors() const = 0;
  // The experts a Hello's anchor_expert must index (FedJETs); 0 for an
  // algorithm without experts, which ignores the anchor.
  virtual int NumExperts() const = 0;
  virtual void FillWelcome(const SessionInfo& s, proto::Welcome& w) = 0;
  // Sent right after the Welcome (FedJETs: the common expert, unless the
  // client holds it already).
  virtual boost::asio::awaitable<common::Status> AfterWelcome(
      common::Connection& c, const std::string& run_id, const SessionInfo& s,
      common::Clock::time_point deadline) = 0;
  // One client's round: task out, update back.
  virtual boost::asio::awaitable<common::Result<ClientUpdate>> Exchange(
      common::Connection& c, const std::string& run_id, int round,
      const SessionInfo& s, Role role, common::Clock::time_point deadline) = 0;
  // Serves a just-in-time client (FedJETs); others refuse.
  virtual boost::asio::awaitable<common::Status> Serve(
      common::Connection& c, const std::string& run_id,
      common::Clock::time_point deadline) = 0;

  // Whether each accepted update is handed to Fold as it arrives
  // (--streaming-aggregation); Aggregate then gets the round's updates
  // without their parameters.
  virtual bool FoldsUpdates() const { return false; }
  // Takes one accepted update of round `round` into the round's running
  // aggregate (folded at once or with the next few; the strategy holds
  // only a bounded number), leaving `update` without its parameters.
  // Network thread, between Exchanges.
  virtual common::Status Fold(int round, ClientUpdate& update) {
    (void)round;
    (void)update;
    return common::FailedPrecondition("this strategy does not fold updates");
  }
  // Folds the round's updates into the global state; adds round metrics
  // (e.g. expert_load) to `round_event`.
  virtual common::Status Aggregate(int round,
                                   std::vector<ClientUpdate>& updates,
                                   RoundEvent& round_event) = 0;
  // The `eval` event.
  virtual EvalEvent Evaluate(int round) = 0;
  // `baselines` (and, for FedJETs, `routing`) events after the last round.
  virtual std::vector<Event> FinalEvents() = 0;
  // The `start` event but for run_id and seed, which the coordinator adds.
  virtual StartEvent StartInfo() = 0;
  // Bytes of everything a client could be sent (all experts + gate, or
  // the model).
  virtual uint64_t FullModelBytes() = 0;
  // Every trainable global parameter, for tests and checkpoints.
  virtual common::ParameterList Snapshot() = 0;
  // Sets the global state to a Snapshot() (resuming from a checkpoint).
  // Names, dtypes, shapes and count must match; unchanged on error.
  virtual common::Status Restore(const common::ParameterList& params) = 0;
  virtual common::Status Save(const std::filesystem::path& dir) = 0;
};

// Builds the strategy: pretrains the common expert when asked, builds the
// models and the evaluation clients of `split` (may be null: then only the
// test split is evaluated).
common::Result<std::unique_ptr<Strategy>> MakeStrategy(
    const StrategyOptions& options, const common::TrainTest& data,
    const common::FederationSplit* split);

}  // namespace fedjets::coordinator
