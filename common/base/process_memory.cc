#include "common/base/process_memory.h"

#include <fmt/format.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <fstream>
#include <sstream>

namespace fedjets::common {

Result<uint64_t> ParseStatmResidentBytes(const std::string& statm,
                                         uint64_t page_bytes) {
  // "size resident shared text lib data dt", in pages.
  std::istringstream in(statm);
  uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) {
    return InvalidArgument(fmt::format(
        "/proc/self/statm: expected two page counts, got '{}'", statm));
  }
  return resident * page_bytes;
}

Result<uint64_t> ResidentSetBytes() {
  std::ifstream in("/proc/self/statm");
  std::string line;
  if (!std::getline(in, line)) {
    return Unavailable("cannot read /proc/self/statm (not Linux?)");
  }
  const long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) return Internal("sysconf(_SC_PAGESIZE) failed");
  return ParseStatmResidentBytes(line, static_cast<uint64_t>(page));
}

void RetainFreedMemory() {
#if defined(__GLIBC__)
  // 32 MiB is glibc's largest mmap threshold on 64-bit (HEAP_MAX_SIZE / 2);
  // setting either value also turns off its dynamic adjustment.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace fedjets::common
