#include "tools/sim/partition_summary.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/common/data/csv_test_util.h"

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;

class PartitionSummaryTest : public TempDirTest {
 protected:
  const std::vector<std::vector<int64_t>> hist_ = {{5, 0, 1}, {0, 7, 2}};
  const std::vector<std::string> names_ = {"cat", "dog's", "emu"};
};

TEST_F(PartitionSummaryTest, WritesTableAndHeatmap) {
  auto s = WritePartitionSummary(hist_, names_, "tiny run", dir_ / "run");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::ifstream in(s->table_path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), s->table);
  EXPECT_EQ(s->table.rfind("tiny run\n\n", 0), 0u);
  EXPECT_NE(s->table.find("dog's"), std::string::npos);
  EXPECT_NE(s->table.find("total"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ / "run" / "partition.dat"));
  EXPECT_TRUE(fs::exists(dir_ / "run" / "partition.gp"));
  if (!fs::exists("/usr/bin/gnuplot")) {
    GTEST_SKIP() << "gnuplot not installed: " << s->warning;
  }
  EXPECT_EQ(s->warning, "");
  ASSERT_FALSE(s->png_path.empty());
  EXPECT_GT(fs::file_size(s->png_path), 1000u);
}

TEST_F(PartitionSummaryTest, MissingGnuplotStillWritesTheTableAndWarns) {
  auto s = WritePartitionSummary(hist_, names_, "t", dir_,
                                 "fedjets-no-such-gnuplot");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(fs::exists(s->table_path));
  EXPECT_TRUE(s->png_path.empty());
  EXPECT_NE(s->warning.find("fedjets-no-such-gnuplot"), std::string::npos)
      << s->warning;
}

}  // namespace
}  // namespace fedjets::common
