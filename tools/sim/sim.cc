#include "tools/sim/sim.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "common/base/atomic_file.h"
#include "common/base/subprocess.h"
#include "common/net/certs.h"
#include "coordinator/coordinator_flags.h"
#include "coordinator/strategy/update_aggregator.h"
#include "tools/sim/sim_layout.h"

namespace fedjets::coordinator {
namespace {

namespace fs = std::filesystem;
using common::Status;

volatile std::sig_atomic_t g_interrupted = 0;

// The exit code of a child whose status could not be read.
constexpr int kExitCodeLost = 255;

struct Child {
  pid_t pid = -1;
  std::string what;
  int exit_code = -1;
};

fs::path DefaultBinDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

std::string DefaultRunDir() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return fmt::format("runs/sim-{}", stamp);
}

void KillAll(std::vector<Child>& children, int signo) {
  for (auto& c : children) {
    if (c.exit_code < 0 && c.pid > 0) kill(c.pid, signo);
  }
}

// Collects the exit code of each child that has ended, without blocking.
// Waits only for these pids, never for another child of this process.
void CollectExits(std::vector<Child>& children) {
  for (auto& c : children) {
    if (c.exit_code >= 0) continue;
    auto exit = common::PollExit(c.pid);
    if (!exit.ok()) {
      // The child is gone but its status is lost: count it as failed.
      spdlog::warn("{}: {}", c.what, exit.status().message());
      c.exit_code = kExitCodeLost;
    } else if (exit->has_value()) {
      c.exit_code = **exit;
    }
  }
}

// Waits until `until` (or, when null, every child) has ended, or `deadline`,
// or an interrupt; returns false on the last two.
bool ReapUntil(std::vector<Child>& children, const Child* until,
               std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    CollectExits(children);
    bool any_running = false;
    for (const auto& c : children) any_running |= c.exit_code < 0;
    if (!any_running || (until && until->exit_code >= 0)) return true;
    if (g_interrupted) return false;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

Status RunSimulation(SimOptions o) {
  if (o.clients < 1) return common::InvalidArgument("--clients must be >= 1");
  if (o.validation_clients < 0) {
    return common::InvalidArgument(fmt::format(
        "--validation-clients {} must be >= 0", o.validation_clients));
  }
  FEDJETS_RETURN_IF_ERROR(CheckAggregationOptions(o.strategy));
  if (o.processes <= 0 || o.processes > o.clients) o.processes = o.clients;
  auto& strategy = o.strategy;
  if (strategy.num_experts < 0) {
    strategy.num_experts =
        strategy.algorithm == "fedjets" ? kFedJetsDefaultExperts : 0;
  }
  const bool resume = !o.resume_dir.empty();
  if (resume) o.run_dir = o.resume_dir;
  if (o.run_dir.empty()) o.run_dir = DefaultRunDir();
  const fs::path bin =
      o.bin_dir.empty() ? DefaultBinDir() : fs::path(o.bin_dir);
  for (const char* b : {"fedjets-coordinator", "fedjets-client"}) {
    if (!fs::exists(bin / b)) {
      return common::NotFound(fmt::format(
          "{} not found in {} (build it, or pass --bin-dir)", b, bin.string()));
    }
  }
  const fs::path run = fs::absolute(o.run_dir);
  std::error_code ec;
  fs::create_directories(run / "logs", ec);
  if (ec) {
    return common::Unavailable(fmt::format("cannot create run directory {}: {}",
                                           run.string(), ec.message()));
  }
  FEDJETS_RETURN_IF_ERROR(SummarizePartition(o, run));
  if (o.show_partition) return Status::Ok();
  if (!o.flags_ini.empty()) {
    FEDJETS_RETURN_IF_ERROR(
        common::WriteFileAtomically(run / "sim.ini", o.flags_ini));
  }
  const fs::path warm_model = run / "warmup" / "model.pt";
  if (resume && strategy.common_expert.starts_with("fedavg:") &&
      fs::exists(warm_model)) {
    strategy.common_expert = "file:" + warm_model.string();  // done before
  }
  if (strategy.common_expert.starts_with("fedavg:")) {
    // The common expert is this federation's FedAvg model after R rounds:
    // run them first (same clients, same layout), then load it.
    const std::string r = strategy.common_expert.substr(7);
    int rounds = 0;
    auto [end, ec] = std::from_chars(r.data(), r.data() + r.size(), rounds);
    if (ec != std::errc() || end != r.data() + r.size() || rounds < 1) {
      return common::InvalidArgument(fmt::format(
          "--common-expert '{}': fedavg:R needs R >= 1 warm-up rounds",
          strategy.common_expert));
    }
    SimOptions warm = o;
    warm.resume_dir.clear();
    warm.flags_ini.clear();
    warm.rounds = rounds;
    warm.strategy.algorithm = "fedavg";
    warm.strategy.common_expert = "none";
    warm.strategy.prox_mu = 0;
    warm.strategy.baselines = false;
    warm.run_dir = (run / "warmup").string();
    fmt::print(
        "fedjets-sim: FedAvg warm-up, {} rounds, for the common "
        "expert (run directory {})\n",
        rounds, warm.run_dir);
    std::fflush(stdout);
    if (auto st = RunSimulation(warm); !st.ok()) {
      return st.Annotate("FedAvg warm-up of the common expert");
    }
    strategy.common_expert = "file:" + warm_model.string();
  }
  // Process p hosts the clients p, p + processes, ...; its certificate
  // "client-<p>" grants their names, and no other, as one range
  // "client-{p..last..processes}" so it stays small however many it hosts
  // (docs/PROTOCOL.md, "Identity").
  const std::string name_prefix = "client-";
  std::vector<std::vector<int>> shards_of(o.processes);
  std::vector<common::ClientCertSpec> client_certs;
  for (int p = 0; p < o.processes; ++p) {
    for (int c = p; c < o.clients; c += o.processes) {
      shards_of[p].push_back(c);
    }
    client_certs.push_back({common::ClientCertName(p), {}});
    if (!shards_of[p].empty()) {
      client_certs.back().client_names.push_back(
          fmt::format("{}{{{}..{}..{}}}", name_prefix, p, shards_of[p].back(),
                      o.processes));
    }
  }
  const fs::path certs = run / "certs";
  if (!o.insecure) {
    FEDJETS_RETURN_IF_ERROR(common::GenerateRunCertificates(
        certs, client_certs, {"localhost", "127.0.0.1"}, /*overwrite=*/true));
  }
  auto tls_args = [&](const std::string& node) -> std::vector<std::string> {
    if (o.insecure) return {"--insecure"};
    return {"--ca",   (certs / "ca.pem").string(),
            "--cert", (certs / (node + ".pem")).string(),
            "--key",  (certs / (node + ".key")).string()};
  };

  std::vector<std::string> data_args = {"--dataset", o.data.name, "--data",
                                        o.data.path};
  for (const auto& [k, v] : o.data.options) {
    data_args.push_back("--data-option");
    data_args.push_back(k + "=" + v);
  }
  const fs::path port_file = run / "coordinator.port";
  fs::remove(port_file, ec);
  std::vector<std::string> cargs = {(bin / "fedjets-coordinator").string(),
                                    "--host",
                                    "127.0.0.1",
                                    "--port",
                                    "0",
                                    "--port-file",
                                    port_file.string(),
                                    "--run-dir",
                                    run.string(),
                                    "--rounds",
                                    std::to_string(o.rounds),
                                    "--min-clients",
                                    std::to_string(o.clients),
                                    "--clients-per-round",
                                    std::to_string(o.clients_per_round),
                                    "--round-timeout",
                                    fmt::format("{}", o.round_timeout_s),
                                    "--threads",
                                    std::to_string(o.threads_per_process),
                                    "--anchor-share",
                                    fmt::format("{}", o.anchor_share),
                                    "--partition",
                                    o.partition,
                                    "--num-clients",
                                    std::to_string(o.clients),
                                    "--eval-every",
                                    std::to_string(o.eval_every),
                                    "--log-level",
                                    "warn"};
  for (auto& a : StrategyArgs(strategy)) cargs.push_back(a);
  for (auto& a : QuorumArgs(o.quorum)) cargs.push_back(a);
  if (o.validation_clients != 0) {
    cargs.insert(
        cargs.end(),
        {"--validation-clients", std::to_string(o.validation_clients),
         "--validation-fraction", fmt::format("{}", o.validation_fraction)});
  }
  if (resume) {
    cargs.push_back("--resume");
    cargs.push_back(run.string());
  }
  for (auto& a : tls_args("coordinator")) cargs.push_back(a);
  for (auto& a : data_args) cargs.push_back(a);
  if (o.metrics_port != 0) {
    cargs.insert(cargs.end(), {"--metrics-port", std::to_string(o.metrics_port),
                               "--metrics-address", o.metrics_address});
  }

  std::signal(SIGINT, [](int) { g_interrupted = 1; });
  std::signal(SIGTERM, [](int) { g_interrupted = 1; });
  std::vector<Child> children;
  children.reserve(o.processes + 1);
  auto coordinator_pid = common::Spawn(cargs);
  if (!coordinator_pid.ok()) return coordinator_pid.status();
  children.push_back({*coordinator_pid, "coordinator"});
  const Child* coordinator = &children.front();

  // Wait until the coordinator listens and tells us its port.
  uint16_t port = 0;
  const auto listen_deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(o.start_timeout_s * 1000));
  while (port == 0) {
    std::ifstream in(port_file);
    if (in >> port) break;
    port = 0;
    ReapUntil(
        children, coordinator,
        std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
    if (coordinator->exit_code >= 0) {
      return common::Unavailable(fmt::format(
          "the coordinator exited with code {} before listening (see its "
          "errors above)",
          coordinator->exit_code));
    }
    if (g_interrupted || std::chrono::steady_clock::now() > listen_deadline) {
      KillAll(children, SIGTERM);
      if (g_interrupted) return common::Unavailable("interrupted");
      return common::DeadlineExceeded(fmt::format(
          "the coordinator did not start listening within {} s "
          "(--start-timeout; pretraining a large common expert takes long)",
          o.start_timeout_s));
    }
  }
  fmt::print("fedjets-sim: run directory {}\n", run.string());
  fmt::print(
      "fedjets-sim: coordinator on 127.0.0.1:{}, {} clients in {} "
      "processes, {} rounds, partition {}, {}\n",
      port, o.clients, o.processes, o.rounds, o.partition,
      o.insecure ? "INSECURE plain TCP" : "mutual TLS 1.3");
  std::fflush(stdout);

  for (int p = 0; p < o.processes; ++p) {
    const std::string shards = fmt::format("{}", fmt::join(shards_of[p], ","));
    const std::string node = client_certs[p].name;
    std::vector<std::string> args = {(bin / "fedjets-client").string(),
                                     "--host",
                                     "127.0.0.1",
                                     "--port",
                                     std::to_string(port),
                                     "--server-name",
                                     "localhost",
                                     "--partition",
                                     o.partition,
                                     "--num-shards",
                                     std::to_string(o.clients),
                                     "--shards",
                                     shards,
                                     "--name-prefix",
                                     name_prefix,
                                     "--seed",
                                     std::to_string(strategy.seed),
                                     "--max-examples",
                                     std::to_string(o.max_examples_per_client),
                                     "--threads",
                                     std::to_string(o.threads_per_process),
                                     "--num-experts",
                                     std::to_string(strategy.num_experts)};
    if (o.validation_clients > 0) {
      args.insert(args.end(), {"--validation-fraction",
                               fmt::format("{}", ValidationFraction(o))});
    }
    for (auto& a : tls_args(node)) args.push_back(a);
    for (auto& a : data_args) args.push_back(a);
    common::SpawnOptions logged;
    logged.log_file = (run / "logs" / (node + ".log")).string();
    auto pid = common::Spawn(args, logged);
    if (!pid.ok()) {
      KillAll(children, SIGTERM);
      return pid.status();
    }
    children.push_back({*pid, node});
    coordinator = &children.front();
  }

  ReapUntil(children, coordinator,
            std::chrono::steady_clock::time_point::max());
  if (g_interrupted) {
    KillAll(children, SIGTERM);
    // The coordinator finishes its round and checkpoints it first.
    ReapUntil(children, nullptr,
              std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(
                      static_cast<int64_t>(o.round_timeout_s * 1000) + 10'000));
    return common::Unavailable(fmt::format(
        "interrupted; continue with: fedjets-sim --resume {}", run.string()));
  }
  // Clients leave on the coordinator's goodbye; give them a moment. A
  // coordinator that failed sent none: its clients would only try to join
  // again, so they are stopped at once.
  if (children.front().exit_code != 0) KillAll(children, SIGTERM);
  if (!ReapUntil(children, nullptr,
                 std::chrono::steady_clock::now() + std::chrono::seconds(30))) {
    KillAll(children, SIGKILL);
    ReapUntil(children, nullptr,
              std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
  int failed_clients = 0;
  for (size_t i = 1; i < children.size(); ++i) {
    if (children[i].exit_code != 0) {
      ++failed_clients;
      spdlog::warn("{} exited with code {} (log: {})", children[i].what,
                   children[i].exit_code,
                   (run / "logs" / (children[i].what + ".log")).string());
    }
  }
  fmt::print("fedjets-sim: metrics in {}\n", (run / "metrics.jsonl").string());
  if (children.front().exit_code == kExitBelowQuorum) {
    return common::FailedPrecondition(fmt::format(
        "the coordinator stopped: too many attempts in a row below quorum "
        "(--max-failed-rounds; its error above says which round); continue "
        "with: fedjets-sim --resume {}",
        run.string()));
  }
  if (children.front().exit_code != 0) {
    return common::Internal(fmt::format("the coordinator exited with code {}",
                                        children.front().exit_code));
  }
  if (failed_clients > 0) {
    return common::Internal(
        fmt::format("{} client processes failed", failed_clients));
  }
  return Status::Ok();
}

}  // namespace fedjets::coordinator
