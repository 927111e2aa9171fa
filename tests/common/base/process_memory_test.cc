#include "common/base/process_memory.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace fedjets::common {
namespace {

TEST(ProcessMemoryTest, StatmResidentPagesTimesPageSize) {
  auto bytes = ParseStatmResidentBytes("1000 250 30 4 0 500 0\n", 4096);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, 250u * 4096);
}

TEST(ProcessMemoryTest, MalformedStatmIsAnErrorNamingTheFile) {
  auto bytes = ParseStatmResidentBytes("garbage", 4096);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("/proc/self/statm"),
            std::string::npos);
}

TEST(ProcessMemoryTest, TouchedMemoryShowsInTheResidentSet) {
  auto before = ResidentSetBytes();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_GT(*before, 0u);
  constexpr size_t kBlock = 64 << 20;
  auto block = std::make_unique<char[]>(kBlock);
  std::memset(block.get(), 1, kBlock);  // resident only once written
  auto after = ResidentSetBytes();
  ASSERT_TRUE(after.ok());
  EXPECT_GE(*after, *before + kBlock / 2);
  EXPECT_EQ(block[kBlock - 1], 1);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FEDJETS_SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define FEDJETS_SANITIZER_MALLOC 1
#endif
#endif
#ifdef FEDJETS_SANITIZER_MALLOC
constexpr bool kSanitizerMalloc = true;  // its own allocator: no mallinfo2
#else
constexpr bool kSanitizerMalloc = false;
#endif

void* volatile sink = nullptr;  // keeps the compiler from eliding malloc

// Without RetainFreedMemory a fresh 24 MiB block is its own mmap (glibc's
// threshold starts at 128 KiB) and is unmapped when freed.
TEST(ProcessMemoryTest, RetainFreedMemoryKeepsLargeBlocksInTheHeap) {
  if (kSanitizerMalloc) GTEST_SKIP() << "the sanitizer replaces malloc";
  RetainFreedMemory();
  constexpr size_t kBlock = 24 << 20;
  const size_t mapped_before = mallinfo2().hblkhd;
  sink = std::malloc(kBlock);
  ASSERT_NE(sink, nullptr);
  std::memset(sink, 1, kBlock);
  EXPECT_EQ(mallinfo2().hblkhd, mapped_before) << "the block was mmapped";
  std::free(sink);
  EXPECT_GE(mallinfo2().fordblks, kBlock) << "the freed block was trimmed";
}

}  // namespace
}  // namespace fedjets::common
