// A federated algorithm as the coordinator runs it: what a client is told
// on joining, what one client's round exchange looks like on the wire,
// how updates are aggregated and how the global state is evaluated.
// FedAvg/FedProx and FedJETs implement it
// (coordinator/strategy/fedavg_strategy.cc,
// coordinator/strategy/fedjets_strategy.h).
//
// Threads: FillWelcome/AfterWelcome/SendTask/Serve and Publish/published
// run on the coordinator's network thread and read only the published
// ModelSnapshot (and what never changes after construction); the live
// models belong to the worker thread (Aggregate, MakeSnapshot, Evaluate,
// FinalEvents, StartInfo, Save). A just-in-time client may be served, and
// a late client's update read (ReceiveClientUpdate, which touches no
// strategy state), while a round aggregates: they get the snapshot
// published before, whole.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/data/dataset.h"
#include "common/data/federation_split.h"
#include "common/net/connection.h"
#include "common/net/tensor_codec.h"
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

// The global models as the network sends them: every trainable global
// parameter in wire form, never changed once built. After a round's
// aggregation the worker thread builds the next one from the live models
// (Strategy::MakeSnapshot) and the network thread swaps it in
// (Strategy::Publish) once the worker is done. An exchange or a serve
// holds the snapshot it started with (a shared_ptr) to its end, so a
// client gets one round's models whole: never a half-aggregated tensor,
// nor a gate and experts of two different rounds.
struct ModelSnapshot {
  // The round whose aggregation made it: 0 for the initial models, the
  // checkpoint's round after --resume.
  int round = 0;
  // The models, each with its wire names, in a fixed order: FedAvg and
  // FedProx one part (the model); FedJETs the gate ("gate."), then
  // experts 0..M-1 ("expert.<q>.").
  std::vector<common::ParameterList> parts;
  std::string hash;  // common::ContentHash(All())

  // Every part in order: what checkpoints hold and Restore takes.
  common::ParameterList All() const;
  // Raw bytes of all parts: everything a client could be sent.
  uint64_t Bytes() const;
};

// A snapshot of `parts` made in `round`, its hash computed.
std::shared_ptr<const ModelSnapshot> MakeModelSnapshot(
    int round, std::vector<common::ParameterList> parts);

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

// What a client was sent for its round, and what its Update must hold.
struct SentTask {
  Role role = Role::kModel;
  std::vector<int> experts;         // fedjets: the experts it trains
  common::TensorSpecList expected;  // the Update's tensors, in order
  common::ParameterList start;      // as ClientUpdate::start
  // The published snapshot the task was sent from, held to the end of
  // the exchange (ReceiveClientUpdate takes the SentTask).
  std::shared_ptr<const ModelSnapshot> snapshot;
};

// The second part of one client's round: reads its Update and tensors
// (common::ReceiveParameters checks them against task.expected as they
// arrive). Touches no strategy state.
boost::asio::awaitable<common::Result<ClientUpdate>> ReceiveClientUpdate(
    common::Connection& c, const std::string& run_id, int round,
    const SessionInfo& s, SentTask task, common::Clock::time_point deadline);

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
  // The first part of one client's round: the task and everything the
  // client is sent (FedJETs normal clients: the expert grant too). What is
  // returned lets ReceiveClientUpdate read the update without the
  // strategy, so that reading it may go on while the round is aggregated.
  virtual boost::asio::awaitable<common::Result<SentTask>> SendTask(
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
  // Network thread, while the round's attempt is open (never for a late
  // or stale update, never while Aggregate runs).
  virtual common::Status Fold(int round, ClientUpdate& update) {
    (void)round;
    (void)update;
    return common::FailedPrecondition("this strategy does not fold updates");
  }
  // Forgets what was folded so far (network thread, at the start of each
  // attempt at a round: a failed attempt's updates are not aggregated).
  virtual void DiscardFolded() {}
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
  // A snapshot of the live models, as made by round `round` (worker
  // thread; or the network thread while no worker task runs).
  virtual std::shared_ptr<const ModelSnapshot> MakeSnapshot(int round) = 0;
  // Sets the live models to a snapshot's All() (resuming from a
  // checkpoint; publish a MakeSnapshot afterwards). Names, dtypes, shapes
  // and count must match; unchanged on error.
  virtual common::Status Restore(const common::ParameterList& params) = 0;
  virtual common::Status Save(const std::filesystem::path& dir) = 0;

  // What the network sends from now on (network thread). MakeStrategy
  // publishes the initial models.
  void Publish(std::shared_ptr<const ModelSnapshot> snapshot) {
    published_ = std::move(snapshot);
  }
  // The latest published snapshot, never null (network thread; hold the
  // pointer for as long as its models are used).
  const std::shared_ptr<const ModelSnapshot>& published() const {
    return published_;
  }

 private:
  std::shared_ptr<const ModelSnapshot> published_;
};

// Builds the strategy: pretrains the common expert when asked, builds the
// models and the evaluation clients of `split` (may be null: then only the
// test split is evaluated).
common::Result<std::unique_ptr<Strategy>> MakeStrategy(
    const StrategyOptions& options, const common::TrainTest& data,
    const common::FederationSplit* split);

}  // namespace fedjets::coordinator
