// fedjets-coordinator: runs a federation. Parses flags and calls the
// coordinator library.
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/base/atomic_file.h"
#include "common/base/process_memory.h"
#include "common/cli/cli_flags.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_flags.h"

int main(int argc, char** argv) {
  using namespace fedjets;
  common::RetainFreedMemory();
  coordinator::CoordinatorCommandLine cl;
  cl.threads =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CLI::App app{
      "fedjets-coordinator: runs federated rounds (FedAvg, FedProx or "
      "FedJETs) over mutual TLS and writes a run directory (config.ini, "
      "metrics.jsonl, models)."};
  coordinator::AddCoordinatorFlags(app, cl);
  std::vector<std::string> args = common::WithResumeConfig(
      std::vector<std::string>(argv, argv + argc), "config.ini");
  std::vector<char*> args_c;
  for (auto& a : args) args_c.push_back(a.data());
  CLI11_PARSE(app, static_cast<int>(args_c.size()), args_c.data());

  coordinator::CoordinatorOptions& o = cl.options;
  if (!cl.resume_dir.empty()) {
    o.run_dir = cl.resume_dir;
    o.resume = true;
  }
  spdlog::set_level(spdlog::level::from_str(cl.log_level));
  at::set_num_threads(cl.threads);
  o.handle_signals = true;

  coordinator::Coordinator c(o);
  if (auto st = c.Prepare(); !st.ok()) {
    spdlog::error("{}", st.ToString());
    return 1;
  }
  if (!o.run_dir.empty()) {
    // config.ini and run_id describe the run; a run directory without them
    // still holds its results, so the run goes on.
    const std::filesystem::path dir(o.run_dir);
    auto describe = [&](const char* name, const std::string& text) {
      common::Status st = common::WriteFileAtomically(dir / name, text);
      if (!st.ok()) spdlog::warn("{}", st.ToString());
    };
    describe("config.ini", app.config_to_str(/*default_also=*/true,
                                             /*write_description=*/true));
    describe("run_id", c.run_id() + "\n");
  }
  if (!cl.port_file.empty()) {
    common::Status st = common::WriteFileAtomically(
        cl.port_file, std::to_string(c.port()) + "\n");
    if (!st.ok()) {
      spdlog::error("cannot write --port-file: {}", st.ToString());
      return 1;
    }
  }
  auto st = c.Run();
  if (!st.ok() && c.summary().below_quorum) {
    spdlog::error(
        "run {} stopped below quorum: {}; a checkpoint is kept: "
        "fedjets-coordinator --resume {} continues once enough clients report",
        c.run_id(), st.message(),
        o.run_dir.empty() ? "(no --run-dir: nothing was saved)" : o.run_dir);
    return coordinator::kExitBelowQuorum;
  }
  if (!st.ok()) {
    spdlog::error("run {} failed: {}", c.run_id(), st.ToString());
    return 1;
  }
  const auto& summary = c.summary();
  if (summary.interrupted) {
    spdlog::warn(
        "run {} stopped before round {} of {}; continue it with: "
        "fedjets-coordinator --resume {}",
        summary.run_id, summary.resumed_after_round + summary.rounds.size() + 1,
        o.rounds,
        o.run_dir.empty() ? "(no --run-dir: nothing was saved)" : o.run_dir);
    return 0;
  }
  spdlog::info("run {} complete: final test accuracy {:.2f}%", summary.run_id,
               100 * summary.final_accuracy);
  return 0;
}
