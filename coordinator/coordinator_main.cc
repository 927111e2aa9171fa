// fedjets-coordinator: runs a federation. Parses flags and calls the
// coordinator library.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/cli_flags.h"
#include "coordinator/coordinator.h"

namespace {

bool WriteFileAtomically(const std::filesystem::path& path,
                         const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedjets;
  coordinator::CoordinatorOptions o;
  std::string port_file, log_level = "info";
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::chrono::milliseconds handshake = o.handshake_timeout,
                            round = o.round_timeout,
                            wait = o.wait_clients_timeout;

  CLI::App app{
      "fedjets-coordinator: runs federated rounds (FedAvg/FedProx) over "
      "mutual TLS and writes a run directory (config.ini, metrics.jsonl, "
      "model.pt)."};
  app.set_config("--config", "", "read flags from an INI/TOML file");
  app.add_option("--host", o.host, "IP address to listen on")
      ->capture_default_str();
  app.add_option("--port", o.port, "TCP port to listen on (0 = any free port)")
      ->capture_default_str();
  app.add_option("--port-file", port_file,
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
  app.add_option("--seed", o.seed, "seed for model init and client sampling")
      ->capture_default_str();
  app.add_option("--local-epochs", o.local_epochs, "local epochs per round")
      ->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "local batch size")
      ->capture_default_str();
  app.add_option("--lr", o.learning_rate, "client SGD learning rate")
      ->capture_default_str();
  app.add_option("--momentum", o.momentum, "client SGD momentum")
      ->capture_default_str();
  app.add_option("--prox-mu", o.prox_mu,
                 "FedProx proximal weight mu (0 = plain FedAvg)")
      ->capture_default_str();
  common::AddSecondsFlag(app, "--handshake-timeout", handshake,
                         "deadline for a client's TLS handshake and hello");
  common::AddSecondsFlag(app, "--round-timeout", round,
                         "deadline for a client's round; stragglers are "
                         "dropped");
  common::AddSecondsFlag(app, "--wait-timeout", wait,
                         "how long to wait for --min-clients to join");
  common::AddDatasetFlags(app, o.data);
  app.add_option("--model", o.model_family, "model family: auto, cnn, mlp")
      ->capture_default_str();
  app.add_option("--hidden", o.model_hidden, "width of the penultimate layer")
      ->capture_default_str();
  app.add_option("--eval-examples", o.eval_examples,
                 "evaluate on the first N test examples (0 = all)")
      ->capture_default_str();
  app.add_option("--eval-every", o.eval_every, "evaluate every N rounds")
      ->capture_default_str();
  app.add_option("--run-dir", o.run_dir,
                 "directory for config.ini, metrics.jsonl and model.pt");
  app.add_option("--run-id", o.run_id, "run id (default: generated)");
  app.add_option("--threads", threads, "LibTorch threads for evaluation")
      ->capture_default_str();
  common::AddLogLevelFlag(app, log_level);
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  torch::set_num_threads(threads);
  o.handshake_timeout = handshake;
  o.round_timeout = round;
  o.wait_clients_timeout = wait;
  o.handle_signals = true;

  coordinator::Coordinator c(o);
  if (auto st = c.Prepare(); !st.ok()) {
    spdlog::error("{}", st.ToString());
    return 1;
  }
  if (!o.run_dir.empty()) {
    WriteFileAtomically(std::filesystem::path(o.run_dir) / "config.ini",
                        app.config_to_str(/*default_also=*/true,
                                          /*write_description=*/true));
    WriteFileAtomically(std::filesystem::path(o.run_dir) / "run_id",
                        c.run_id() + "\n");
  }
  if (!port_file.empty() &&
      !WriteFileAtomically(port_file, std::to_string(c.port()) + "\n")) {
    spdlog::error("cannot write --port-file '{}'", port_file);
    return 1;
  }
  auto st = c.Run();
  if (!st.ok()) {
    spdlog::error("run {} failed: {}", c.run_id(), st.ToString());
    return 1;
  }
  const auto& s = c.summary();
  spdlog::info("run {} complete: final test accuracy {:.2f}%", s.run_id,
               100 * s.final_accuracy);
  return 0;
}
