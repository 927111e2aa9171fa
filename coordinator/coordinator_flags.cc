#include "coordinator/coordinator_flags.h"

#include <fmt/format.h>

#include "common/cli/cli_flags.h"

namespace fedjets::coordinator {

void AddStrategyFlags(CLI::App& app, StrategyOptions& s) {
  app.add_option("--algorithm", s.algorithm, "fedavg, fedprox or fedjets")
      ->check(CLI::IsMember({"fedavg", "fedprox", "fedjets"}))
      ->capture_default_str();
  app.add_option("--seed", s.seed,
                 "seed for model init, client sampling and the layout")
      ->capture_default_str();
  app.add_option("--local-epochs", s.local_epochs, "local epochs per round")
      ->capture_default_str();
  app.add_option("--batch-size", s.batch_size, "local batch size")
      ->capture_default_str();
  app.add_option("--lr", s.learning_rate, "client SGD learning rate")
      ->capture_default_str();
  app.add_option("--momentum", s.momentum, "client SGD momentum")
      ->capture_default_str();
  app.add_option("--prox-mu", s.prox_mu,
                 "FedProx proximal weight mu (used with --algorithm fedprox)")
      ->capture_default_str();
  app.add_option("--common-expert", s.common_expert,
                 "pretrained frozen common expert: none, weak, strong, "
                 "examples:N:epochs:E (pretrained here on the last N "
                 "training examples) or file:PATH (a saved model, e.g. a "
                 "FedAvg run's model.pt); fedjets needs one, fedavg/fedprox "
                 "start from it")
      ->capture_default_str();
  app.add_option("--common-expert-cache", s.common_expert_cache,
                 "folder where pretrained common experts are kept and reused "
                 "by later runs with the same data, model, budget and seed "
                 "(empty: pretrain every run)");
  app.add_option("--num-experts", s.num_experts,
                 "FedJETs experts M; also the number of anchor clients in a "
                 "simulated layout (0 = none)")
      ->capture_default_str();
  app.add_option("--top-k", s.top_k, "experts each client uses (K)")
      ->capture_default_str();
  app.add_option("--gate-hidden", s.gate_hidden, "gate hidden width")
      ->capture_default_str();
  app.add_option("--gate-lr", s.gate_lr, "gate learning rate (plain SGD)")
      ->capture_default_str();
  app.add_option("--normal-gate-lr", s.normal_gate_lr,
                 "gate learning rate of normal clients (-1: --gate-lr; 0: only "
                 "anchors train the gate and it is averaged over them alone)")
      ->capture_default_str();
  app.add_option("--anchor-gate-weight", s.anchor_gate_weight,
                 "weight of the anchors' gate loss")
      ->capture_default_str();
  app.add_flag_callback(
      "--no-anchors", [&s] { s.use_anchors = false; },
      "ablation: anchor clients train like normal clients");
  app.add_option("--eval-client-examples", s.eval_examples_per_client,
                 "test examples per evaluation client")
      ->capture_default_str();
  app.add_option("--finetune-epochs", s.finetune_epochs,
                 "epochs of the local/oracle fine-tuning baselines")
      ->capture_default_str();
  app.add_flag("--baselines", s.baselines,
               "after the last round also score the common expert alone, "
               "local fine-tuning and (fedavg/fedprox) the fine-tune oracle "
               "on the evaluation clients");
  app.add_option("--model", s.model_family, "model family: auto, cnn, mlp")
      ->capture_default_str();
  app.add_option("--hidden", s.model_hidden, "width of the penultimate layer")
      ->capture_default_str();
  app.add_option("--eval-examples", s.eval_examples,
                 "evaluate on the first N test examples (0 = all)")
      ->capture_default_str();
}

std::vector<std::string> StrategyArgs(const StrategyOptions& s) {
  auto num = [](auto v) { return fmt::format("{}", v); };
  std::vector<std::string> args = {
      "--algorithm", s.algorithm,
      "--seed", num(s.seed),
      "--local-epochs", num(s.local_epochs),
      "--batch-size", num(s.batch_size),
      "--lr", num(s.learning_rate),
      "--momentum", num(s.momentum),
      "--prox-mu", num(s.prox_mu),
      "--common-expert", s.common_expert,
      "--num-experts", num(s.num_experts),
      "--top-k", num(s.top_k),
      "--gate-hidden", num(s.gate_hidden),
      "--gate-lr", num(s.gate_lr),
      "--normal-gate-lr", num(s.normal_gate_lr),
      "--anchor-gate-weight", num(s.anchor_gate_weight),
      "--eval-client-examples", num(s.eval_examples_per_client),
      "--finetune-epochs", num(s.finetune_epochs),
      "--model", s.model_family,
      "--hidden", num(s.model_hidden),
      "--eval-examples", num(s.eval_examples)};
  if (!s.common_expert_cache.empty()) {
    args.insert(args.end(), {"--common-expert-cache", s.common_expert_cache});
  }
  if (!s.use_anchors) args.push_back("--no-anchors");
  if (s.baselines) args.push_back("--baselines");
  return args;
}

void AddCoordinatorFlags(CLI::App& app, CoordinatorCommandLine& cl) {
  CoordinatorOptions& o = cl.options;
  app.set_config("--config", "", "read flags from an INI/TOML file");
  app.add_option("--host", o.host, "IP address to listen on")
      ->capture_default_str();
  app.add_option("--port", o.port, "TCP port to listen on (0 = any free port)")
      ->capture_default_str();
  app.add_option("--port-file", cl.port_file,
                 "write the port actually bound to this file once listening");
  common::AddTlsFlags(app, o.tls, o.insecure);
  common::AddLimitFlags(app, o.limits);
  app.add_option("--rounds", o.rounds, "number of federated rounds")
      ->capture_default_str();
  app.add_option("--min-clients", o.min_clients,
                 "clients that must join before round 1 starts")
      ->capture_default_str();
  app.add_option("--clients-per-round", o.clients_per_round,
                 "clients sampled per round (0 = all connected)")
      ->capture_default_str();
  app.add_option("--min-updates", o.min_updates,
                 "quorum: a round with fewer updates keeps the old model")
      ->capture_default_str();
  AddStrategyFlags(app, o.strategy);
  app.add_option("--anchor-share", o.anchor_share,
                 "share of each round's clients drawn from the anchors")
      ->capture_default_str();
  app.add_option("--partition", o.partition,
                 "simulated layout, to build seen/unseen evaluation clients: "
                 "grouped, grouped-random, iid, classes:K, dirichlet:ALPHA")
      ->capture_default_str();
  app.add_option("--num-clients", o.num_clients,
                 "clients in the simulated layout (0 = evaluate the test "
                 "split only)")
      ->capture_default_str();
  app.add_flag("--linger", o.linger,
               "after the last round keep serving just-in-time clients until "
               "interrupted");
  common::AddSecondsFlag(app, "--handshake-timeout", o.handshake_timeout,
                         "deadline for a client's TLS handshake and hello");
  common::AddSecondsFlag(app, "--round-timeout", o.round_timeout,
                         "deadline for a client's round; stragglers are "
                         "dropped");
  common::AddSecondsFlag(app, "--wait-timeout", o.wait_clients_timeout,
                         "how long to wait for --min-clients to join");
  common::AddDatasetFlags(app, o.data);
  app.add_option("--eval-every", o.eval_every, "evaluate every N rounds")
      ->capture_default_str();
  app.add_option("--run-dir", o.run_dir,
                 "directory for config.ini, metrics.jsonl and model.pt");
  app.add_option("--run-id", o.run_id, "run id (default: generated)");
  app.add_option("--threads", cl.threads, "LibTorch threads for evaluation")
      ->capture_default_str();
  common::AddLogLevelFlag(app, cl.log_level);
}

}  // namespace fedjets::coordinator
