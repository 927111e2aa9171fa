// fedjets-sim: a whole federation on localhost in one command. Generates a
// CA and node certificates for the run, starts fedjets-coordinator and
// client processes (each hosting one or more virtual clients), waits for
// the run to finish and reports where its run directory is.
#pragma once

#include <string>

#include "common/dataset_source.h"
#include "common/status.h"

namespace fedjets::coordinator {

struct SimOptions {
  int clients = 4;     // clients in the federation
  int processes = 0;   // client processes; 0 = one per client
  int rounds = 5;
  int clients_per_round = 0;
  std::string algorithm = "fedavg";  // fedavg, fedprox, fedjets
  std::string common_expert = "none";
  std::string common_expert_cache;
  int num_experts = -1;  // -1: 5 for fedjets, else 0 (no anchors)
  int top_k = 2;
  int64_t gate_hidden = 64;
  double gate_lr = 0.1;
  double normal_gate_lr = -1;
  double anchor_share = 0.5;
  bool no_anchors = false;
  std::string model = "auto";
  int64_t hidden = 128;
  int eval_every = 1;
  int64_t eval_client_examples = 500;
  bool baselines = false;  // score the reference methods after the run
  std::string partition = "iid";
  common::DatasetSource data;
  std::string run_dir;  // default: runs/sim-<time>
  uint64_t seed = 1;
  int local_epochs = 1;
  int batch_size = 64;
  double learning_rate = 0.01;
  double momentum = 0.9;
  double prox_mu = 0.0;
  int64_t max_examples_per_client = 0;
  int64_t eval_examples = 0;
  int threads_per_process = 1;
  bool insecure = false;
  double round_timeout_s = 600;
  // How long the coordinator may prepare (load data, pretrain the common
  // expert) before it listens.
  double start_timeout_s = 1800;
  std::string bin_dir;  // where the fedjets binaries are; default: beside us
  // Write and print the partition summary, then stop before training.
  bool show_partition = false;
};

// Runs the simulation; OK when the coordinator finished every round.
common::Status RunSimulation(SimOptions options);

}  // namespace fedjets::coordinator
