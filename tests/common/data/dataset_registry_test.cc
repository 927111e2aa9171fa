#include "common/data/dataset_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "common/data/dataset_source.h"
#include "common/data/shards.h"

namespace fedjets::common {
namespace {

// n examples with one feature equal to the label, two classes.
Dataset Tiny(int64_t n) {
  Dataset d;
  d.name = "tiny";
  d.example_shape = {1};
  d.num_classes = 2;
  d.class_names = {"even", "odd"};
  for (int64_t i = 0; i < n; ++i) {
    d.labels.push_back(i % 2);
    d.features.push_back(static_cast<float>(i % 2));
  }
  return d;
}

Result<TrainTest> LoadTiny(const DatasetSource&) {
  return TrainTest{Tiny(20), Tiny(6)};
}

// Registered before main(): this object file is part of the test binary.
FEDJETS_REGISTER_DATASET("static-tiny", "registered by the macro", LoadTiny);

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(DatasetRegistryTest, BuiltInsAreRegistered) {
  const auto names = RegisteredDatasetNames();
  for (const char* n : {"fashion-mnist", "mnist", "idx", "csv", "csv-folder"}) {
    EXPECT_TRUE(Contains(names, n)) << n;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_NE(DescribeDatasets().find("csv: "), std::string::npos);
}

TEST(DatasetRegistryTest, StaticRegistrationIsVisibleAndLoads) {
  auto data = LoadDataset({"static-tiny", "", {}, 1});
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->train.size(), 20);
}

TEST(DatasetRegistryTest, RegisteredLoaderIsUsedByLoadDatasetAndShards) {
  ASSERT_TRUE(RegisterDataset("explicit-tiny", "registered in a test",
                              [](const DatasetSource& s) -> Result<TrainTest> {
                                const int64_t n = std::stoi(s.path);
                                return TrainTest{Tiny(n), Tiny(4)};
                              })
                  .ok());
  auto data = LoadDataset({"explicit-tiny", "30", {}, 1});
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->train.size(), 30);
  ShardOptions o;
  o.data = {"explicit-tiny", "30", {}, 1};
  o.num_shards = 3;
  auto shards = LoadShards(o, {0, 1, 2});
  ASSERT_TRUE(shards.ok()) << shards.status().ToString();
  EXPECT_EQ((*shards)[0].size() + (*shards)[1].size() + (*shards)[2].size(),
            30);
}

TEST(DatasetRegistryTest, UnknownNameListsRegisteredNames) {
  auto data = LoadDataset({"no-such-data", "", {}, 1});
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kNotFound);
  EXPECT_NE(data.status().message().find("unknown dataset 'no-such-data'"),
            std::string::npos);
  EXPECT_NE(data.status().message().find("csv, csv-folder"), std::string::npos)
      << data.status().message();
}

TEST(DatasetRegistryTest, DuplicateAndMalformedRegistrationsAreRejected) {
  EXPECT_EQ(RegisterDataset("csv", "again", LoadTiny).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RegisterDataset("Has Spaces", "x", LoadTiny).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RegisterDataset("no-fn", "x", nullptr).code(),
            StatusCode::kInvalidArgument);
}

TEST(DatasetRegistryTest, MalformedPluginDataIsAnErrorNotACrash) {
  ASSERT_TRUE(RegisterDataset("broken-labels", "label out of range",
                              [](const DatasetSource&) -> Result<TrainTest> {
                                TrainTest t{Tiny(4), Tiny(4)};
                                t.test.labels[1] = 7;
                                return t;
                              })
                  .ok());
  auto data = LoadDataset({"broken-labels", "", {}, 1});
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("label 7 of example 1"),
            std::string::npos)
      << data.status().message();
}

TEST(DatasetRegistryTest, PerClientPluginBypassesThePartitioner) {
  DatasetLoader l;
  l.name = "per-client-tiny";
  l.description = "client i has i + 2 examples";
  l.load = LoadTiny;
  l.load_client = [](const DatasetSource&, int client, int) -> Result<Dataset> {
    return Tiny(client + 2);
  };
  ASSERT_TRUE(RegisterDataset(std::move(l)).ok());
  ShardOptions o;
  o.data = {"per-client-tiny", "", {}, 1};
  o.num_shards = 4;
  auto shards = LoadShards(o, {3, 1});
  ASSERT_TRUE(shards.ok()) << shards.status().ToString();
  EXPECT_EQ((*shards)[0].size(), 5);
  EXPECT_EQ((*shards)[1].size(), 3);
  auto per_client = IsPerClientDataset(o.data);
  ASSERT_TRUE(per_client.ok());
  EXPECT_TRUE(*per_client);
}

}  // namespace
}  // namespace fedjets::common
