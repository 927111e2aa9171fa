// What a FedJETs client holds during its session: the common expert (shared
// by the process's sessions through the ModelCache), the common-expert
// embeddings of its local data, the gate, and the experts the coordinator
// sent for the current round. It trains anchors and mixtures, and serves a
// just-in-time client. Internal to fedjets_client.
//
// Thread-safety: used from the network thread by one session; training and
// prediction run on the training thread through OnTrainer, one at a time.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/session.h"
#include "common/learn/model.h"
#include "common/learn/moe_serving.h"
#include "common/learn/training.h"
#include "common/net/connection.h"
#include "proto/fedjets.pb.h"

namespace fedjets::client {

// What one round of local training produced, to be sent as an Update.
struct TrainedRound {
  common::TrainStats stats;
  std::vector<int> experts;      // FedJETs: the experts trained
  common::ParameterList update;  // the parameters to send back
};

// The supervised routing loss a normal round task asks for, checked:
// InvalidArgument when its weight is negative or not finite or, when it is
// on, its class -> expert map does not have `num_classes` entries, each in
// [-1, num_experts).
common::Result<common::RoutingLoss> RoutingLossOf(const proto::RoundTask& task,
                                                  int64_t num_classes,
                                                  int num_experts);

// How the run serves zero-shot clients (MoeConfig's serve_* fields, and
// generalist_weight, which normal clients' training uses too), checked:
// InvalidArgument when serve_mass is outside [0, 1], serve_max_k outside
// [0, num_experts], or a generalist_weight is set outside [0, 1) or
// without generalist_expert.
common::Result<common::ServeOptions> ServeOptionsOf(
    const proto::MoeConfig& moe);

class FedJetsState {
 public:
  // `conn`, `local` and `trainer` must outlive this object. While a round
  // task's work runs on `trainer` a Heartbeat goes out every `heartbeat`
  // (zero: none; client/heartbeat.h).
  FedJetsState(common::Connection& conn, std::string run_id,
               const LocalClient& local, common::ModelSpec spec,
               proto::MoeConfig moe, common::Clock::duration heartbeat,
               asio::thread_pool& trainer);

  // Gets the common expert announced in `welcome` (from `cache`, or from
  // the wire, checked against its hash and then cached) and builds an
  // empty gate. The local data is embedded at the first round task (or
  // serve), where heartbeats cover the time it takes; between rounds the
  // client must stay free to answer the coordinator's heartbeats.
  awaitable<common::Status> SetUp(const proto::Welcome& welcome,
                                  ModelCache& cache,
                                  common::Clock::time_point deadline);

  // Trains on the local data for an anchor (ROLE_ANCHOR: `params` are the
  // gate and the anchored expert, then the generalist if the run has one)
  // or normal (ROLE_NORMAL: `params` are the gate; the top-K experts are
  // asked for) task. The update holds the gate and the trained experts;
  // the experts are dropped afterwards.
  awaitable<common::Result<TrainedRound>> TrainRound(
      const proto::RoundTask& task, int64_t round,
      const common::ParameterList& params, const common::TrainOptions& o,
      common::Clock::time_point deadline);

  // Just in time: receives the gate, asks for its experts (the top-K, or
  // those covering the run's serve_mass of its EM expert prior), predicts
  // the local labels without training, fills `result`'s jit_* fields and
  // says goodbye.
  awaitable<common::Status> Serve(common::Clock::time_point deadline,
                                  ClientResult& result);

 private:
  bool HasGeneralist() const { return moe_.generalist_expert(); }
  // Builds the experts `ids` from their wire parameters in `params`.
  common::Status LoadExperts(const common::ParameterList& params,
                             const std::vector<int>& ids);
  // Embeds the local data with the common expert into z_, once, on the
  // training thread, sending the heartbeats of `round` meanwhile.
  awaitable<void> EmbedOnce(int64_t round);
  // The gate and experts `ids` as wire parameters.
  common::ParameterList MoeWire(const std::vector<int>& ids);
  // Picks the top-K experts from the local data (in round 0, serving: as
  // serve_ says), asks for them and loads what the coordinator grants. In
  // a round (not 0) it sends heartbeats while it picks.
  awaitable<common::Result<std::vector<int>>> RequestExperts(
      int64_t round, common::Clock::time_point deadline);

  common::Connection& conn_;
  const std::string run_id_;
  const LocalClient& local_;
  const common::ModelSpec spec_;
  const proto::MoeConfig moe_;
  common::ServeOptions serve_;  // from moe_, checked in SetUp
  const common::Clock::duration heartbeat_;
  asio::thread_pool& trainer_;
  common::Classifier common_;
  torch::Tensor z_;  // common-expert embeddings of the local data
  common::Gate gate_{nullptr};
  // By id (the generalist's is num_experts); only this round's set.
  std::vector<common::Classifier> experts_;
};

}  // namespace fedjets::client
