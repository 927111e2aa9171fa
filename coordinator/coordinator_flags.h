// The command line of fedjets-coordinator, also readable from a --config
// file (INI/TOML, as written to a run directory's config.ini).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "coordinator/coordinator.h"

namespace fedjets::coordinator {

struct CoordinatorCommandLine {
  CoordinatorOptions options;
  std::string port_file;
  std::string resume_dir;  // --resume
  std::string log_level = "info";
  int threads = 2;  // LibTorch threads for evaluation
};

// Registers the flags of a StrategyOptions (algorithm, local recipe,
// FedJETs, common expert, evaluation); fedjets-coordinator and fedjets-sim
// share them. Parsing writes `s`, which must outlive `app`.
void AddStrategyFlags(CLI::App& app, StrategyOptions& s);

// The command-line arguments that make AddStrategyFlags parse back to `s`;
// fedjets-sim starts the coordinator with them.
std::vector<std::string> StrategyArgs(const StrategyOptions& s);

// Registers every flag of the coordinator on `app`; parsing writes `cl`,
// which must outlive `app`.
// --min-updates, --min-update-fraction and --max-failed-rounds (the
// coordinator's and fedjets-sim's), and the arguments that parse back to
// `q` (fedjets-sim passes them to the coordinator it starts).
void AddQuorumFlags(CLI::App& app, QuorumOptions& q);
std::vector<std::string> QuorumArgs(const QuorumOptions& q);

void AddCoordinatorFlags(CLI::App& app, CoordinatorCommandLine& cl);

}  // namespace fedjets::coordinator
