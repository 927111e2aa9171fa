// A partition summary for a run directory: which classes each client
// holds, as a text table (partition.txt, FormatHistogram of
// common/partition.h) and a heatmap (partition.png) drawn by gnuplot from
// partition.dat and partition.gp, which stay beside it so the plot can be
// restyled by hand. Thread-compatible; spawns gnuplot and waits for it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common {

struct PartitionSummary {
  std::string table;  // title line, blank line, FormatHistogram table
  std::string table_path;
  std::string png_path;  // empty when no plot was made
  std::string warning;   // why there is no plot (gnuplot missing or failed)
};

// Writes the files into `dir` (created if needed). hist[client][class] as
// ClassHistogram returns it. The plot is best-effort: when `gnuplot` (a
// program name looked up on PATH, or a path) cannot run or fails, the table
// is still written and `warning` says why, naming gnuplot's log. Errors:
// Unavailable when `dir` or a file cannot be written.
Result<PartitionSummary> WritePartitionSummary(
    const std::vector<std::vector<int64_t>>& hist,
    const std::vector<std::string>& class_names, const std::string& title,
    const std::filesystem::path& dir, const std::string& gnuplot = "gnuplot");

}  // namespace fedjets::common
