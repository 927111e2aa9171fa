#include "common/base/process_memory.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace fedjets::common
