#include "tools/sim/sim_flags.h"

#include <fmt/format.h>

#include "common/cli/cli_flags.h"
#include "coordinator/coordinator_flags.h"

namespace fedjets::coordinator {

// Rounds of a FedJETs run when --rounds is not given. The paper protocol's
// 100 take minutes more than a first look needs; 20 show the gate and the
// experts learning (see the README's "FedJETs in one command").
constexpr int kFedJetsDefaultRounds = 20;

void AddSimFlags(CLI::App& app, SimOptions& o) {
  using common::AddOptionWithDefault;
  app.set_config("--config", "", "read flags from an INI/TOML file");
  AddOptionWithDefault(app, "--clients", o.clients,
                       "clients in the federation (fedjets: 100)");
  AddOptionWithDefault(app, "--processes", o.processes,
                       "client processes; clients are spread over them as "
                       "virtual clients (0 = one process per client; "
                       "fedjets: 2)");
  AddOptionWithDefault(
      app, "--rounds", o.rounds,
      fmt::format("federated rounds (fedjets: {})", kFedJetsDefaultRounds));
  AddOptionWithDefault(app, "--clients-per-round", o.clients_per_round,
                       "clients sampled per round (0 = all; fedjets: 10)");
  AddOptionWithDefault(
      app, "--partition", o.partition,
      "split of the training data: iid, classes:K, "
      "dirichlet:ALPHA, or the FedJETs layouts grouped (paper: "
      "anchors hold one class group each, clients two groups, "
      "unseen combinations held out) and grouped-random (fedjets: grouped)");
  AddOptionWithDefault(
      app, "--validation-clients", o.validation_clients,
      "validation clients for tuning hyper-parameters (issue #14): label "
      "mixes drawn like the unseen clients', examples from a slice of the "
      "training split that no client trains on; scored every evaluation "
      "like the unseen clients, as validation_accuracy in metrics.jsonl "
      "(0 = none)");
  AddOptionWithDefault(app, "--validation-fraction", o.validation_fraction,
                       "share of each class's training examples cut off "
                       "for the validation clients (with "
                       "--validation-clients)");
  AddStrategyFlags(app, o.strategy);
  app.get_option("--common-expert")
      ->description(
          "pretrained frozen common expert: none, weak, strong, "
          "examples:N:epochs:E (pretrained by the coordinator on the last N "
          "training examples), file:PATH (a saved model, e.g. a run's "
          "model.pt) or fedavg:R (R FedAvg rounds of this federation first, "
          "in RUN_DIR/warmup); fedjets needs one (fedjets: weak), "
          "fedavg/fedprox start from it");
  app.get_option("--num-experts")
      ->description(
          "FedJETs experts M = anchor clients in the layout (-1: 5 for "
          "fedjets, 0 otherwise)");
  app.get_option("--model")->description(
      "model family: auto, cnn, mlp (fedjets: mlp)");
  AddOptionWithDefault(app, "--anchor-share", o.anchor_share,
                       "share of each round's clients drawn from the anchors");
  AddOptionWithDefault(app, "--eval-every", o.eval_every,
                       "evaluate every N rounds");
  common::AddDatasetFlags(app, o.data);
  app.add_option("--run-dir", o.run_dir,
                 "run directory (default: runs/sim-<time>)");
  common::AddResumeFlag(
      app, o.resume_dir,
      "continue the run in this run directory from its newest checkpoint, "
      "with the flags in its sim.ini (flags given here win)");
  AddOptionWithDefault(app, "--max-examples", o.max_examples_per_client,
                       "cap on each client's training examples (0 = whole "
                       "shard)");
  AddOptionWithDefault(app, "--threads", o.threads_per_process,
                       "LibTorch threads per process");
  AddOptionWithDefault(app, "--round-timeout", o.round_timeout_s,
                       "seconds a client may take for a round");
  AddQuorumFlags(app, o.quorum);
  app.add_option("--start-timeout", o.start_timeout_s,
                 "seconds the coordinator may take to load the data and "
                 "pretrain the common expert before it listens")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  AddOptionWithDefault(app, "--metrics-port", o.metrics_port,
                       "the coordinator serves Prometheus metrics at "
                       "http://ADDRESS:PORT/metrics, plain HTTP (0 = off)");
  AddOptionWithDefault(app, "--metrics-address", o.metrics_address,
                       "IP address for --metrics-port");
  app.add_flag("--show-partition", o.show_partition,
               "print which classes each client holds (also written to "
               "RUN_DIR/partition.txt and partition.png) and exit without "
               "training");
  app.add_flag("--insecure", o.insecure,
               "plain TCP instead of mutual TLS (testing only)");
  app.add_option("--bin-dir", o.bin_dir,
                 "directory holding fedjets-coordinator and fedjets-client "
                 "(default: beside fedjets-sim)");
}

std::set<std::string> GivenFlags(const CLI::App& app) {
  std::set<std::string> given;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0) continue;
    for (const auto& name : opt->get_lnames()) given.insert("--" + name);
  }
  return given;
}

std::vector<std::string> ApplyAlgorithmDefaults(
    SimOptions& o, const std::set<std::string>& given) {
  std::vector<std::string> chosen;
  if (o.strategy.algorithm != "fedjets") return chosen;
  auto choose = [&](const std::string& flag, auto& field, auto value) {
    if (given.contains(flag)) return;
    field = value;
    chosen.push_back(fmt::format("{} {}", flag, value));
  };
  // examples/fedjets_paper_protocol/fashion_mnist.ini, but for the rounds.
  StrategyOptions& s = o.strategy;
  choose("--clients", o.clients, 100);
  choose("--processes", o.processes, 2);
  choose("--rounds", o.rounds, kFedJetsDefaultRounds);
  choose("--clients-per-round", o.clients_per_round, 10);
  choose("--partition", o.partition, std::string("grouped"));
  choose("--lr", s.learning_rate, 0.01);
  choose("--momentum", s.momentum, 0.9);
  choose("--common-expert", s.common_expert, std::string("weak"));
  choose("--num-experts", s.num_experts, kFedJetsDefaultExperts);
  choose("--top-k", s.top_k, 2);
  choose("--gate-lr", s.gate_lr, 0.1);
  choose("--model", s.model_family, std::string("mlp"));
  choose("--anchor-share", o.anchor_share, 0.5);
  return chosen;
}

}  // namespace fedjets::coordinator
