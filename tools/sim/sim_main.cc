// fedjets-sim: runs a federation on localhost in one command.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "common/cli/cli_flags.h"
#include "tools/sim/sim.h"
#include "tools/sim/sim_flags.h"

int main(int argc, char** argv) {
  fedjets::coordinator::SimOptions o;
  CLI::App app{
      "fedjets-sim: starts fedjets-coordinator and client processes on "
      "localhost with freshly generated mutual-TLS certificates, prints a "
      "per-round table and waits for the run to finish. Exit code 0 when "
      "every round completed. Each algorithm has its own defaults: "
      "--algorithm fedjets alone runs the paper protocol's federation "
      "(examples/fedjets_paper_protocol/fashion_mnist.ini) for a few "
      "rounds; '(fedjets: X)' below marks those, and a flag given on the "
      "command line or in --config wins."};
  fedjets::coordinator::AddSimFlags(app, o);
  std::vector<std::string> args = fedjets::common::WithResumeConfig(
      std::vector<std::string>(argv, argv + argc), "sim.ini");
  std::vector<char*> args_c;
  for (auto& a : args) args_c.push_back(a.data());
  CLI11_PARSE(app, static_cast<int>(args_c.size()), args_c.data());

  const auto chosen = fedjets::coordinator::ApplyAlgorithmDefaults(
      o, fedjets::coordinator::GivenFlags(app));
  if (!chosen.empty()) {
    fmt::print("fedjets-sim: {} defaults (flags override them): {}\n",
               o.strategy.algorithm, fmt::join(chosen, " "));
    std::fflush(stdout);
  }
  o.flags_ini = app.config_to_str(/*default_also=*/true,
                                  /*write_description=*/false);
  if (auto st = fedjets::coordinator::RunSimulation(o); !st.ok()) {
    spdlog::error("simulation failed: {}", st.ToString());
    return 1;
  }
  return 0;
}
