// fedjets-sim: a whole federation on localhost in one command. Generates a
// CA and node certificates for the run, starts fedjets-coordinator and
// client processes (each hosting one or more virtual clients), waits for
// the run to finish and reports where its run directory is.
#pragma once

#include <cstdint>
#include <string>

#include "common/base/status.h"
#include "common/data/dataset_source.h"
#include "coordinator/quorum.h"
#include "coordinator/strategy/strategy_options.h"

namespace fedjets::coordinator {

// Experts (and anchors) of a fedjets run when --num-experts is not given.
inline constexpr int kFedJetsDefaultExperts = 5;

struct SimOptions {
  int clients = 4;    // clients in the federation
  int processes = 0;  // client processes; 0 = one per client
  int rounds = 5;
  int clients_per_round = 0;
  // Algorithm, local recipe, FedJETs, common expert, evaluation: passed to
  // the coordinator as they are, except strategy.num_experts = -1, which
  // means 5 for fedjets and 0 (no anchors) otherwise.
  StrategyOptions strategy = [] {
    StrategyOptions s;
    s.num_experts = -1;
    return s;
  }();
  double anchor_share = 0.5;
  int eval_every = 1;
  std::string partition = "iid";
  // Validation clients for honest tuning (issue #14), drawn from
  // validation_fraction of the training split that no client trains on;
  // 0 = none (and no cut).
  int validation_clients = 0;
  double validation_fraction = 0.1;
  common::DatasetSource data;
  std::string run_dir;  // default: runs/sim-<time>
  // --resume: continue the run in this directory (it replaces run_dir):
  // the coordinator resumes from its newest checkpoint, the clients start
  // afresh.
  std::string resume_dir;
  // This run's flags as an INI file, written to RUN_DIR/sim.ini for a later
  // `fedjets-sim --resume RUN_DIR` (empty: not written).
  std::string flags_ini;
  int64_t max_examples_per_client = 0;
  int threads_per_process = 1;
  bool insecure = false;
  double round_timeout_s = 600;
  // The coordinator's --min-updates, --min-update-fraction and
  // --max-failed-rounds.
  QuorumOptions quorum;
  // How long the coordinator may prepare (load data, pretrain the common
  // expert) before it listens.
  double start_timeout_s = 1800;
  // The coordinator's Prometheus endpoint (--metrics-port; 0 = none).
  uint16_t metrics_port = 0;
  std::string metrics_address = "127.0.0.1";
  std::string bin_dir;  // where the fedjets binaries are; default: beside us
  // Write and print the partition summary, then stop before training.
  bool show_partition = false;
};

// Runs the simulation; OK when the coordinator finished every round.
common::Status RunSimulation(SimOptions options);

}  // namespace fedjets::coordinator
