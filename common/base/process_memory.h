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

// Makes glibc's malloc keep the memory a process frees for its next
// allocations: blocks up to 32 MiB come from the heap (not a fresh mmap
// each), and a freed heap top is not handed back to the kernel. Without
// it, the tensors of each training step and message were mapped afresh and
// returned, and the kernel faulted in and cleared their pages every time:
// bench/compare.sh's CNN federation took 2.9x the page faults and twice
// the system time, and on a VM where faults are dear its client spent more
// time in them than in convolutions (docs/PERFORMANCE.md). The resident
// set then stays near its peak instead of following what is in use. Call
// once, early in main, before other threads start. No-op where the C
// library is not glibc.
void RetainFreedMemory();

// The same, from the text of a statm file (exposed for tests).
Result<uint64_t> ParseStatmResidentBytes(const std::string& statm,
                                         uint64_t page_bytes);

}  // namespace fedjets::common
