// How much memory this process holds, as the kernel counts it (Linux
// /proc). Used by the coordinator to report its resident set size with each
// round (metrics.jsonl, the Prometheus endpoint), so memory growth over a
// long run shows. Thread-safe: each call reads /proc afresh.
#pragma once

#include <cstdint>
#include <string>

#include "common/base/status.h"

namespace fedjets::common {

// This process's resident set size in bytes (the second field of
// /proc/self/statm times the page size); an error names what could not be
// read or parsed.
Result<uint64_t> ResidentSetBytes();

// The same, from the text of a statm file (exposed for tests).
Result<uint64_t> ParseStatmResidentBytes(const std::string& statm,
                                         uint64_t page_bytes);

}  // namespace fedjets::common
