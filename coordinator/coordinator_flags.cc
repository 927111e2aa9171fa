#include "coordinator/coordinator_flags.h"

#include <fmt/format.h>

#include "common/cli/cli_flags.h"

namespace fedjets::coordinator {
namespace {

// Every strategy option, once: its flag, the StrategyOptions field it sets
// and its help, in --help order. `v` is told each one; `s` is a
// StrategyOptions to register flags that write it (FlagAdder) or a const one
// to write the arguments that set it (ArgWriter), so the two cannot drift.
template <class Options, class Visitor>
void ForEachStrategyFlag(Options& s, Visitor& v) {
  v.Choice("--algorithm", s.algorithm, "fedavg, fedprox or fedjets",
           {"fedavg", "fedprox", "fedjets"});
  v.Value("--seed", s.seed,
          "seed for model init, client sampling and the layout");
  v.Value("--local-epochs", s.local_epochs, "local epochs per round");
  v.Value("--batch-size", s.batch_size, "local batch size");
  v.Value("--lr", s.learning_rate, "client SGD learning rate");
  v.Value("--momentum", s.momentum, "client SGD momentum");
  v.Value("--prox-mu", s.prox_mu,
          "FedProx proximal weight mu (used with --algorithm fedprox)");
  v.Value("--common-expert", s.common_expert,
          "pretrained frozen common expert: none, weak, strong, "
          "examples:N:epochs:E (pretrained here on the last N "
          "training examples) or file:PATH (a saved model, e.g. a "
          "FedAvg run's model.pt); fedjets needs one, fedavg/fedprox "
          "start from it");
  v.OptionalPath("--common-expert-cache", s.common_expert_cache,
                 "folder where pretrained common experts are kept and "
                 "reused by later runs with the same data, model, budget "
                 "and seed (empty: pretrain every run)");
  v.Value("--num-experts", s.num_experts,
          "FedJETs experts M; also the number of anchor clients in a "
          "simulated layout (0 = none)");
  v.Value("--top-k", s.top_k, "experts each client uses (K)");
  v.Value("--gate-hidden", s.gate_hidden, "gate hidden width");
  v.Value("--gate-lr", s.gate_lr, "gate learning rate (plain SGD)");
  v.Value("--normal-gate-lr", s.normal_gate_lr,
          "gate learning rate of normal clients (-1: --gate-lr, as the "
          "paper; 0: only anchors train the gate and it is averaged over "
          "them alone)");
  v.Value("--anchor-gate-weight", s.anchor_gate_weight,
          "weight of the anchors' gate loss");
  v.ClearingFlag("--no-anchors", s.use_anchors,
                 "ablation: anchor clients train like normal clients");
  v.SettingFlag("--generalist-expert", s.generalist_expert,
                "fedjets: add a generalist expert that every sampled client "
                "trains every round, always in each client's mixture and a "
                "candidate when serving (the gate gets one more output)");
  v.Value("--generalist-weight", s.generalist_weight,
          "fedjets, with --generalist-expert: the generalist's fixed weight "
          "in every client's mixture and at serving, in [0, 1); the K "
          "selected experts share the rest by the gate, which then cannot "
          "move weight onto the generalist (-1 = off: the gate weighs it "
          "like the others)");
  v.Value("--routing-loss", s.routing_loss,
          "fedjets: weight of normal clients' supervised routing loss, CE "
          "of the gate towards the expert whose anchor holds each sample's "
          "class (0 = off; needs the anchors' classes: --partition and "
          "--num-clients)");
  v.SettingFlag("--routing-only-gate", s.routing_only_gate,
                "fedjets, with --routing-loss: normal clients train the gate "
                "by the routing loss alone (the mixture loss trains their "
                "experts but not the gate), as the reference gate is "
                "trained centrally");
  v.DefaultFlag("--serve-mixture", s.serve_mixture,
                "fedjets (the default): serve zero-shot clients the "
                "gate-weighted mixture of their experts (softmax of the gate "
                "over them), as training does");
  v.ClearingFlag("--serve-hard", s.serve_mixture,
                 "fedjets: serve each sample by its highest-scoring expert "
                 "instead of the mixture (the paper)");
  v.Value("--serve-mass", s.serve_mass,
          "fedjets: serve zero-shot clients the fewest experts covering "
          "this share of their expert prior, estimated without labels by "
          "EM label-shift correction of the gate's scores, which are "
          "corrected by that prior (0 = off: the top-K of the mean gate "
          "score, as the paper; in (0, 1])");
  v.Value("--serve-max-k", s.serve_max_k,
          "fedjets: with --serve-mass, at most this many experts (0, or "
          "more than --num-experts: all of them)");
  v.SettingFlag("--serve-label-shift", s.serve_label_shift,
                "correct each zero-shot client's predictions for its class "
                "prior, estimated from them without labels by EM "
                "label-shift correction (fedavg/fedprox: the model's; "
                "fedjets: the served experts' probabilities, hard or "
                "mixture)");
  v.Value("--eval-client-examples", s.eval_examples_per_client,
          "test examples per evaluation client");
  v.Value("--finetune-epochs", s.finetune_epochs,
          "epochs of the local/oracle fine-tuning baselines");
  v.SettingFlag("--baselines", s.baselines,
                "after the last round also score the common expert alone, "
                "local fine-tuning and (fedavg/fedprox) the fine-tune "
                "oracle on the evaluation clients");
  v.Value("--model", s.model_family, "model family: auto, cnn, mlp");
  v.Value("--hidden", s.model_hidden, "width of the penultimate layer");
  v.Value("--eval-examples", s.eval_examples,
          "evaluate on the first N test examples (0 = all)");
  v.Choice("--aggregation", s.aggregation,
           "how updates are combined, per expert and for the gate in "
           "fedjets: mean (weighted by samples), median or trimmed-mean "
           "(coordinate-wise, unweighted)",
           {"mean", "median", "trimmed-mean"});
  v.Value("--trim-fraction", s.trim_fraction,
          "trimmed-mean: share of updates dropped at each end of every "
          "coordinate, in [0, 0.5); too few updates to drop one: median");
  v.SettingFlag("--streaming-aggregation", s.streaming_aggregation,
                "fold each update into a running sum as it arrives, so "
                "coordinator memory does not grow with the updates "
                "(fedavg/fedprox, --aggregation mean, no --clip-norm); "
                "may differ from the default in a value's last bit");
  v.Value("--clip-norm", s.clip_norm,
          "clip each client's update delta to this L2 norm before "
          "aggregating (0 = off)");
  v.Value("--dp-noise-multiplier", s.dp_noise_multiplier,
          "central DP: add Gaussian noise of std multiplier * clip-norm / "
          "updates to each aggregate (0 = off; needs --clip-norm)");
  v.Value("--max-update-samples", s.max_update_samples,
          "refuse an update claiming more samples than this");
  v.Value("--max-update-norm", s.max_update_norm,
          "refuse an update whose delta has a larger L2 norm (0 = no bound)");
  v.ClearingFlag("--no-update-checks", s.update_checks,
                 "for experiments only: aggregate updates unchecked (no "
                 "sample, finiteness or norm checks), to show what the "
                 "checks prevent");
}

// The quorum options, once, as ForEachStrategyFlag: the coordinator's
// flags and the arguments fedjets-sim passes it.
template <class Options, class Visitor>
void ForEachQuorumFlag(Options& q, Visitor& v) {
  v.Value("--min-updates", q.min_updates,
          "quorum as a count: a round needs at least this many updates, or "
          "it is retried with a fresh sample");
  v.Value("--min-update-fraction", q.min_update_fraction,
          "quorum as a share of the clients sampled, in [0, 1]; a round "
          "needs max(--min-updates, ceil(F x sampled)) updates (0 = the "
          "count alone)");
  v.Value("--max-failed-rounds", q.max_failed_rounds,
          "attempts in a row below quorum after which the run stops with a "
          "checkpoint (exit status 3; --resume goes on)");
}

// Registers each strategy option as a CLI11 flag writing its field.
class FlagAdder {
 public:
  explicit FlagAdder(CLI::App& app) : app_(app) {}

  // An option whose --help shows its default.
  template <class T>
  void Value(const std::string& name, T& field, const std::string& help) {
    common::AddOptionWithDefault(app_, name, field, help);
  }
  // A string option that must be one of `choices`.
  void Choice(const std::string& name, std::string& field,
              const std::string& help,
              const std::vector<std::string>& choices) {
    app_.add_option(name, field, help)
        ->check(CLI::IsMember(choices))
        ->capture_default_str();
  }
  // A path that is unset (empty) by default.
  void OptionalPath(const std::string& name, std::string& field,
                    const std::string& help) {
    app_.add_option(name, field, help);
  }
  // A flag that sets `field` to true.
  void SettingFlag(const std::string& name, bool& field,
                   const std::string& help) {
    app_.add_flag(name, field, help);
  }
  // A flag that sets `field` to false.
  void ClearingFlag(const std::string& name, bool& field,
                    const std::string& help) {
    app_.add_flag_callback(
        name, [&field] { field = false; }, help);
  }
  // A flag that sets `field` to true, its default: it keeps older command
  // lines working. Like a clearing flag it acts only when given, so the
  // "name=false" a config file holds for it changes nothing.
  void DefaultFlag(const std::string& name, bool& field,
                   const std::string& help) {
    app_.add_flag_callback(
        name, [&field] { field = true; }, help);
  }

 private:
  CLI::App& app_;
};

// Writes the arguments that make FlagAdder's flags parse back to the
// options: every value, and a path or flag only when set.
class ArgWriter {
 public:
  template <class T>
  void Value(const std::string& name, const T& field, const std::string&) {
    Add(name, fmt::format("{}", field));
  }
  void Choice(const std::string& name, const std::string& field,
              const std::string&, const std::vector<std::string>&) {
    Add(name, field);
  }
  void OptionalPath(const std::string& name, const std::string& field,
                    const std::string&) {
    if (!field.empty()) Add(name, field);
  }
  void SettingFlag(const std::string& name, bool field, const std::string&) {
    if (field) args_.push_back(name);
  }
  void ClearingFlag(const std::string& name, bool field, const std::string&) {
    if (!field) args_.push_back(name);
  }
  // Its clearing flag writes the other value.
  void DefaultFlag(const std::string&, bool, const std::string&) {}

  std::vector<std::string> Take() { return std::move(args_); }

 private:
  void Add(const std::string& name, std::string value) {
    args_.push_back(name);
    args_.push_back(std::move(value));
  }
  std::vector<std::string> args_;
};

}  // namespace

void AddStrategyFlags(CLI::App& app, StrategyOptions& s) {
  FlagAdder adder(app);
  ForEachStrategyFlag(s, adder);
}

std::vector<std::string> StrategyArgs(const StrategyOptions& s) {
  ArgWriter writer;
  ForEachStrategyFlag(s, writer);
  return writer.Take();
}

void AddQuorumFlags(CLI::App& app, QuorumOptions& q) {
  FlagAdder adder(app);
  ForEachQuorumFlag(q, adder);
}

std::vector<std::string> QuorumArgs(const QuorumOptions& q) {
  ArgWriter writer;
  ForEachQuorumFlag(q, writer);
  return writer.Take();
}

void AddCoordinatorFlags(CLI::App& app, CoordinatorCommandLine& cl) {
  using common::AddOptionWithDefault;
  CoordinatorOptions& o = cl.options;
  app.set_config("--config", "", "read flags from an INI/TOML file");
  AddOptionWithDefault(app, "--host", o.host, "IP address to listen on");
  AddOptionWithDefault(app, "--port", o.port,
                       "TCP port to listen on (0 = any free port)");
  app.add_option("--port-file", cl.port_file,
                 "write the port actually bound to this file once listening");
  common::AddTlsFlags(app, o.tls, o.insecure);
  common::AddLimitFlags(app, o.limits);
  AddOptionWithDefault(app, "--rounds", o.rounds, "number of federated rounds");
  AddOptionWithDefault(app, "--min-clients", o.min_clients,
                       "clients that must join before round 1 starts");
  AddOptionWithDefault(app, "--clients-per-round", o.clients_per_round,
                       "clients sampled per round (0 = all connected)");
  AddQuorumFlags(app, o.quorum);
  AddStrategyFlags(app, o.strategy);
  AddOptionWithDefault(app, "--anchor-share", o.anchor_share,
                       "share of each round's clients drawn from the anchors");
  AddOptionWithDefault(
      app, "--partition", o.partition,
      "simulated layout, to build seen/unseen evaluation clients: "
      "grouped, grouped-random, iid, classes:K, dirichlet:ALPHA");
  AddOptionWithDefault(app, "--num-clients", o.num_clients,
                       "clients in the simulated layout (0 = evaluate the "
                       "test split only)");
  AddOptionWithDefault(
      app, "--validation-clients", o.validation_clients,
      "validation clients for tuning, scored every evaluation as "
      "validation_accuracy: label mixes drawn like the unseen clients', "
      "examples from --validation-fraction of the training split, which "
      "no client trains on (0 = none; needs --partition, --num-clients)");
  AddOptionWithDefault(
      app, "--validation-fraction", o.validation_fraction,
      "share of each class's training examples cut off for the validation "
      "clients when there are any; give every fedjets-client the same "
      "--validation-fraction");
  app.add_flag("--linger", o.linger,
               "after the last round keep serving just-in-time clients until "
               "interrupted");
  AddOptionWithDefault(app, "--max-connections", o.max_connections,
                       "open client connections at most; more are closed "
                       "at once")
      ->check(CLI::PositiveNumber);
  AddOptionWithDefault(app, "--max-pending-handshakes",
                       o.max_pending_handshakes,
                       "connections in the TLS handshake or Hello at most; "
                       "more wait in the listen backlog until one finishes")
      ->check(CLI::PositiveNumber);
  app.add_option("--allow-list", o.allow_list,
                 "file of the client names admitted, one a line, each "
                 "optionally with its anchor expert: NAME [ANCHOR] "
                 "(default: every certificate of the run's CA)");
  common::AddSecondsFlag(app, "--handshake-timeout", o.handshake_timeout,
                         "deadline for a client's TLS handshake and hello");
  common::AddSecondsFlag(app, "--round-timeout", o.round_timeout,
                         "deadline of a round: it closes then with the "
                         "updates in (if a quorum); later ones are refused "
                         "as stale");
  app.add_option_function<double>(
         "--client-silence-timeout",
         [&o](double s) {
           o.client_silence_timeout =
               std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
         },
         fmt::format(
             "drop a client that sends nothing for this long: in its round "
             "exchange (it sends a heartbeat every quarter of it while it "
             "trains) and between rounds (the coordinator sends it a "
             "heartbeat every quarter of it, which it answers); clients "
             "treat a coordinator silent this long as gone (seconds, 0 = "
             "off, default {})",
             static_cast<double>(o.client_silence_timeout.count()) / 1000.0))
      ->check(CLI::NonNegativeNumber);
  common::AddSecondsFlag(app, "--wait-timeout", o.wait_clients_timeout,
                         "how long to wait for --min-clients to join");
  common::AddDatasetFlags(app, o.data);
  AddOptionWithDefault(app, "--eval-every", o.eval_every,
                       "evaluate every N rounds");
  app.add_option_function<uint16_t>(
         "--metrics-port",
         [&o](uint16_t port) {
           o.metrics_port =
               port == 0 ? std::nullopt : std::optional<uint16_t>(port);
         },
         "serve Prometheus metrics at http://ADDRESS:PORT/metrics, plain "
         "HTTP (0 = off; docs/OPERATIONS.md)")
      ->default_str("0");
  AddOptionWithDefault(app, "--metrics-address", o.metrics_address,
                       "IP address for --metrics-port (loopback unless "
                       "scrapers elsewhere need it)");
  app.add_option("--run-dir", o.run_dir,
                 "directory for config.ini, metrics.jsonl and model.pt");
  app.add_option("--run-id", o.run_id, "run id (default: generated)");
  common::AddResumeFlag(
      app, cl.resume_dir,
      "continue the run in this run directory from its newest usable "
      "checkpoint, with the flags in its config.ini (flags given here "
      "win; settings that shape the model must not change)");
  AddOptionWithDefault(app, "--threads", cl.threads,
                       "LibTorch threads for evaluation");
  common::AddLogLevelFlag(app, cl.log_level);
}

}  // namespace fedjets::coordinator
