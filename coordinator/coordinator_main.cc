// fedjets-coordinator: runs a federation. Parses flags and calls the
// coordinator library.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "coordinator/coordinator.h"
#include "coordinator/coordinator_flags.h"

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
  coordinator::CoordinatorCommandLine cl;
  cl.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CLI::App app{
      "fedjets-coordinator: runs federated rounds (FedAvg, FedProx or "
      "FedJETs) over mutual TLS and writes a run directory (config.ini, "
      "metrics.jsonl, models)."};
  coordinator::AddCoordinatorFlags(app, cl);
  CLI11_PARSE(app, argc, argv);

  coordinator::CoordinatorOptions& o = cl.options;
  spdlog::set_level(spdlog::level::from_str(cl.log_level));
  torch::set_num_threads(cl.threads);
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
  if (!cl.port_file.empty() &&
      !WriteFileAtomically(cl.port_file, std::to_string(c.port()) + "\n")) {
    spdlog::error("cannot write --port-file '{}'", cl.port_file);
    return 1;
  }
  auto st = c.Run();
  if (!st.ok()) {
    spdlog::error("run {} failed: {}", c.run_id(), st.ToString());
    return 1;
  }
  const auto& summary = c.summary();
  spdlog::info("run {} complete: final test accuracy {:.2f}%", summary.run_id,
               100 * summary.final_accuracy);
  return 0;
}
