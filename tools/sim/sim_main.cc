// fedjets-sim: runs a federation on localhost in one command.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "common/cli/cli_flags.h"
#include "coordinator/coordinator_flags.h"
#include "tools/sim/sim.h"

int main(int argc, char** argv) {
  fedjets::coordinator::SimOptions o;
  CLI::App app{
      "fedjets-sim: starts fedjets-coordinator and client processes on "
      "localhost with freshly generated mutual-TLS certificates, prints a "
      "per-round table and waits for the run to finish. Exit code 0 when "
      "every round completed."};
  app.set_config("--config", "", "read flags from an INI/TOML file");
  fedjets::common::AddOptionWithDefault(app, "--clients", o.clients,
                                        "clients in the federation");
  fedjets::common::AddOptionWithDefault(
      app, "--processes", o.processes,
      "client processes; clients are spread over them as virtual "
      "clients (0 = one process per client)");
  fedjets::common::AddOptionWithDefault(app, "--rounds", o.rounds,
                                        "federated rounds");
  fedjets::common::AddOptionWithDefault(app, "--clients-per-round",
                                        o.clients_per_round,
                                        "clients sampled per round (0 = all)");
  fedjets::common::AddOptionWithDefault(
      app, "--partition", o.partition,
      "split of the training data: iid, classes:K, "
      "dirichlet:ALPHA, or the FedJETs layouts grouped (paper: "
      "anchors hold one class group each, clients two groups, "
      "unseen combinations held out) and grouped-random");
  fedjets::coordinator::AddStrategyFlags(app, o.strategy);
  app.get_option("--common-expert")
      ->description(
          "pretrained frozen common expert: none, weak, strong, "
          "examples:N:epochs:E (pretrained by the coordinator on the last N "
          "training examples), file:PATH (a saved model, e.g. a run's "
          "model.pt) or fedavg:R (R FedAvg rounds of this federation first, "
          "in RUN_DIR/warmup); fedjets needs one, fedavg/fedprox start from "
          "it");
  app.get_option("--num-experts")
      ->description(
          "FedJETs experts M = anchor clients in the layout (-1: 5 for "
          "fedjets, 0 otherwise)");
  fedjets::common::AddOptionWithDefault(
      app, "--anchor-share", o.anchor_share,
      "share of each round's clients drawn from the anchors");
  fedjets::common::AddOptionWithDefault(app, "--eval-every", o.eval_every,
                                        "evaluate every N rounds");
  fedjets::common::AddDatasetFlags(app, o.data);
  app.add_option("--run-dir", o.run_dir,
                 "run directory (default: runs/sim-<time>)");
  fedjets::common::AddOptionWithDefault(
      app, "--max-examples", o.max_examples_per_client,
      "cap on each client's training examples (0 = whole shard)");
  fedjets::common::AddOptionWithDefault(app, "--threads", o.threads_per_process,
                                        "LibTorch threads per process");
  fedjets::common::AddOptionWithDefault(
      app, "--round-timeout", o.round_timeout_s,
      "seconds a client may take for a round");
  app.add_option("--start-timeout", o.start_timeout_s,
                 "seconds the coordinator may take to load the data and "
                 "pretrain the common expert before it listens")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--show-partition", o.show_partition,
               "print which classes each client holds (also written to "
               "RUN_DIR/partition.txt and partition.png) and exit without "
               "training");
  app.add_flag("--insecure", o.insecure,
               "plain TCP instead of mutual TLS (testing only)");
  app.add_option("--bin-dir", o.bin_dir,
                 "directory holding fedjets-coordinator and fedjets-client "
                 "(default: beside fedjets-sim)");
  CLI11_PARSE(app, argc, argv);

  if (auto st = fedjets::coordinator::RunSimulation(o); !st.ok()) {
    spdlog::error("simulation failed: {}", st.ToString());
    return 1;
  }
  return 0;
}
