// The command line of fedjets-coordinator, also readable from a --config
// file (INI/TOML, as written to a run directory's config.ini).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "coordinator/coordinator.h"

namespace fedjets::coordinator {

struct CoordinatorCommandLine {
  CoordinatorOptions options;
  std::string port_file;
  std::string log_level = "info";
  int threads = 2;  // LibTorch threads for evaluation
};

// Registers every flag of the coordinator on `app`; parsing writes `cl`,
// which must outlive `app`.
void AddCoordinatorFlags(CLI::App& app, CoordinatorCommandLine& cl);

}  // namespace fedjets::coordinator
