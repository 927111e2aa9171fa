#include "common/data/csv_folder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "common/data/dataset_source.h"
#include "common/data/shards.h"
#include "tests/common/data/csv_test_util.h"

namespace fedjets::common {
namespace {

using Names = std::vector<std::string>;

class CsvFolderTest : public TempDirTest {
 protected:
  // client-0 holds only "cat", client-1 only "dog" and "emu"; test.csv all.
  void SetUp() override {
    TempDirTest::SetUp();
    Write("fed/client-0.csv", "x,y,animal\n0,0,cat\n2,0,cat\n");
    Write("fed/client-1.csv", "x,y,animal\n4,1,dog\n6,1,emu\n");
    Write("fed/test.csv", "x,y,animal\n1,9,cat\n5,9,dog\n3,9,emu\n");
  }

  DatasetSource Source(std::map<std::string, std::string> options = {}) {
    return {"csv-folder", Path("fed"), std::move(options), 1};
  }

  ShardOptions Shards(std::map<std::string, std::string> options = {},
                      int num_shards = 2) {
    ShardOptions o;
    o.data = Source(std::move(options));
    o.partition = "classes:1";  // must be ignored for per-client data
    o.num_shards = num_shards;
    return o;
  }
};

TEST_F(CsvFolderTest, EachClientLoadsItsOwnFileWithSharedClassIds) {
  auto shards = LoadShards(Shards(), {0, 1});
  ASSERT_TRUE(shards.ok()) << shards.status().ToString();
  ASSERT_EQ(shards->size(), 2u);
  const Dataset& c0 = (*shards)[0];
  const Dataset& c1 = (*shards)[1];
  EXPECT_EQ(c0.class_names, (Names{"cat", "dog", "emu"}));
  EXPECT_EQ(c1.class_names, c0.class_names);
  EXPECT_EQ(c0.labels, (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(c1.labels, (std::vector<int64_t>{1, 2}));
}

TEST_F(CsvFolderTest, StandardisationPoolsClientFilesAndSkipsTestCsv) {
  auto shards = LoadShards(Shards(), {0, 1});
  ASSERT_TRUE(shards.ok()) << shards.status().ToString();
  // x over all clients: 0, 2, 4, 6 -> mean 3, std sqrt(5).
  EXPECT_NEAR((*shards)[0].features[0], -3 / std::sqrt(5.0), 1e-6);
  auto data = LoadDataset(Source());
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_NEAR(data->test.features[0], -2 / std::sqrt(5.0), 1e-6);  // x = 1
  EXPECT_EQ(data->test.size(), 3);
  EXPECT_EQ(data->train.size(), 4);  // the client files together
}

TEST_F(CsvFolderTest, ClassesComeFromTheOptionWhenGiven) {
  auto shards = LoadShards(Shards({{"classes", "emu,dog,cat"}}), {1});
  ASSERT_TRUE(shards.ok()) << shards.status().ToString();
  EXPECT_EQ((*shards)[0].class_names, (Names{"emu", "dog", "cat"}));
  EXPECT_EQ((*shards)[0].labels, (std::vector<int64_t>{1, 0}));
}

TEST_F(CsvFolderTest, ClientCountMustMatchTheFolder) {
  auto shards = LoadShards(Shards({}, 3), {0});
  ASSERT_FALSE(shards.ok());
  EXPECT_NE(shards.status().message().find("holds 2 client files"),
            std::string::npos)
      << shards.status().message();
}

TEST_F(CsvFolderTest, GapInClientFilesNamesTheMissingFile) {
  Write("fed/client-3.csv", "x,y,animal\n1,1,cat\n");
  auto shards = LoadShards(Shards({}, 4), {0});
  ASSERT_FALSE(shards.ok());
  EXPECT_NE(shards.status().message().find("client-2.csv is missing"),
            std::string::npos)
      << shards.status().message();
}

TEST_F(CsvFolderTest, HostWithOnlyItsOwnFileNeedsExplicitOptions) {
  Write("host/client-5.csv", "x,y,animal\n1,1,dog\n");
  ShardOptions o;
  o.data = {"csv-folder", Path("host"), {}, 1};
  o.num_shards = 8;
  auto implicit = LoadShards(o, {5});
  ASSERT_FALSE(implicit.ok());
  EXPECT_NE(implicit.status().message().find("standardize=false"),
            std::string::npos);
  o.data.options = {{"classes", "cat,dog,emu"}, {"standardize", "false"}};
  auto shards = LoadShards(o, {5});
  ASSERT_TRUE(shards.ok()) << shards.status().ToString();
  EXPECT_EQ((*shards)[0].labels, (std::vector<int64_t>{1}));
  EXPECT_EQ((*shards)[0].features, (std::vector<float>{1, 1}));
}

TEST_F(CsvFolderTest, DifferentColumnsAcrossFilesAreAnError) {
  Write("fed/client-1.csv", "x,z,animal\n4,1,dog\n");
  auto data = LoadDataset(Source());
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("client-1.csv: feature columns"),
            std::string::npos)
      << data.status().message();
}

TEST_F(CsvFolderTest, MissingTestCsvIsNotFound) {
  std::filesystem::remove(Path("fed/test.csv"));
  auto data = LoadDataset(Source());
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kNotFound);
  EXPECT_NE(data.status().message().find("test.csv"), std::string::npos);
}

TEST_F(CsvFolderTest, BadRowInAClientFileNamesFileLineAndColumn) {
  Write("fed/client-0.csv", "x,y,animal\n0,0,cat\n2,?,cat\n");
  auto shards = LoadShards(Shards(), {1});
  ASSERT_FALSE(shards.ok());
  EXPECT_NE(shards.status().message().find("client-0.csv, line 3, column 2"),
            std::string::npos)
      << shards.status().message();
}

TEST_F(CsvFolderTest, MissingDirectoryIsNotFound) {
  ShardOptions o = Shards();
  o.data.path = Path("nowhere");
  auto shards = LoadShards(o, {0});
  ASSERT_FALSE(shards.ok());
  EXPECT_EQ(shards.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace fedjets::common
