// The data layout of a fedjets-sim run as its client processes will
// compute it: the share of the training split they hold out for the
// coordinator's validation clients, and the partition summary written to
// the run directory. Thread-compatible.
#pragma once

#include <filesystem>

#include "common/base/status.h"
#include "tools/sim/sim.h"

namespace fedjets::coordinator {

// The share of the training split the clients hold out: the validation
// slice (--validation-fraction) when there are validation clients, else 0.
double ValidationFraction(const SimOptions& o);

// Writes partition.txt and partition.png into `run`: the classes each
// client trains on, computed exactly as the clients will (and printed
// with --show-partition). Errors: the data cannot be loaded or split, or
// the files cannot be written.
common::Status SummarizePartition(const SimOptions& o,
                                  const std::filesystem::path& run);

}  // namespace fedjets::coordinator
