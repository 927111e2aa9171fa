// The command line of fedjets-sim, and each algorithm's defaults: what a
// flag the user left out means depends on --algorithm (FedJETs needs a
// federation with anchors and a common expert; FedAvg does not).
#pragma once

#include <CLI/CLI.hpp>
#include <set>
#include <string>
#include <vector>

#include "tools/sim/sim.h"

namespace fedjets::coordinator {

// Registers every flag of fedjets-sim on `app`, including --config; parsing
// writes `o`, which must outlive `app`.
void AddSimFlags(CLI::App& app, SimOptions& o);

// The long names ("--clients") of the options the user set, on the command
// line or in the --config file, after `app` has parsed.
std::set<std::string> GivenFlags(const CLI::App& app);

// Fills in the options of `o` that `o.strategy.algorithm` needs and the user
// did not set (`given`, as from GivenFlags). For fedjets: the paper
// protocol's federation (examples/fedjets_paper_protocol/fashion_mnist.ini)
// with a weak common expert and few rounds. Other algorithms keep the
// SimOptions defaults. Returns the settings it chose, one "--flag value"
// each, in --help order, to show the user; empty when it chose none.
std::vector<std::string> ApplyAlgorithmDefaults(
    SimOptions& o, const std::set<std::string>& given);

}  // namespace fedjets::coordinator
