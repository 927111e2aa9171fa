// LoadIdxTrainRows and the shards read through it (common/data/shards.h):
// only the rows asked for, equal bit for bit to the same rows of the whole
// training split, without the test split or the rest of the image file.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/data/dataset.h"
#include "common/data/dataset_registry.h"
#include "common/data/federation_split.h"
#include "common/data/shards.h"
#include "tests/common/base/temp_dir.h"

namespace fedjets::common {
namespace {

using Bytes = std::vector<uint8_t>;

// 1,500 images of 28x28 (1.2 MB: a row straddles the reader's 1 MiB
// chunks) with pixels varying by example and position, 10 classes.
constexpr uint32_t kCount = 1500, kSide = 28, kPixels = kSide * kSide;

Bytes Idx(const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes out;
  auto put = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(v >> shift);
  };
  put(0x0800u | static_cast<uint32_t>(dims.size()));
  for (uint32_t d : dims) put(d);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Bytes Pixels(uint32_t count) {
  Bytes p(static_cast<size_t>(count) * kPixels);
  for (size_t i = 0; i < p.size(); ++i) p[i] = (i * 37 + i / kPixels) % 256;
  return p;
}

Bytes Labels(uint32_t count) {
  Bytes l(count);
  for (uint32_t i = 0; i < count; ++i) l[i] = (i * 7 + i / 3) % 10;
  return l;
}

class IdxRowsTest : public testutil::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    WriteGz("train-images-idx3-ubyte.gz",
            Idx({kCount, kSide, kSide}, Pixels(kCount)));
    WriteGz("train-labels-idx1-ubyte.gz", Idx({kCount}, Labels(kCount)));
    Write("t10k-images-idx3-ubyte", Idx({20, kSide, kSide}, Pixels(20)));
    Write("t10k-labels-idx1-ubyte", Idx({20}, Labels(20)));
  }

  void Write(const std::string& name, const Bytes& bytes) {
    std::ofstream(dir_ / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void WriteGz(const std::string& name, const Bytes& bytes) {
    gzFile f = gzopen((dir_ / name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), bytes.size()),
              static_cast<int>(bytes.size()));
    gzclose(f);
  }
  void RemoveTestSplit() {
    std::filesystem::remove(dir_ / "t10k-images-idx3-ubyte");
    std::filesystem::remove(dir_ / "t10k-labels-idx1-ubyte");
  }

  static SelectRowsFn Rows(std::vector<int64_t> rows) {
    return
        [rows](const Dataset&) -> Result<std::vector<int64_t>> { return rows; };
  }
  Result<Dataset> LoadRows(std::vector<int64_t> rows) {
    return LoadIdxTrainRows(dir_.string(), "idx", Rows(std::move(rows)));
  }

  static void ExpectSame(const Dataset& a, const Dataset& b) {
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.example_shape, b.example_shape);
    EXPECT_EQ(a.num_classes, b.num_classes);
    EXPECT_EQ(a.class_names, b.class_names);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_TRUE(a.features == b.features) << "features differ";
  }
};

TEST_F(IdxRowsTest, RowsEqualTheSameRowsOfTheWholeTrainSplit) {
  auto whole = LoadIdxDir(dir_.string(), "idx");
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  // 1337 straddles the first 1 MiB chunk of pixels; 1499 is the last row.
  const std::vector<int64_t> rows = {0, 1, 5, 6, 700, 1337, 1499};
  int64_t seen_size = -1;
  auto part = LoadIdxTrainRows(
      dir_.string(), "idx",
      [&](const Dataset& labels) -> Result<std::vector<int64_t>> {
        EXPECT_TRUE(labels.features.empty());
        EXPECT_EQ(labels.labels, whole->train.labels);
        EXPECT_EQ(labels.num_classes, 10);
        seen_size = labels.size();
        return rows;
      });
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(seen_size, kCount);
  ExpectSame(*part, Subset(whole->train, rows));
}

TEST_F(IdxRowsTest, NeedsNoTestSplit) {
  RemoveTestSplit();
  EXPECT_EQ(LoadIdxDir(dir_.string(), "idx").status().code(),
            StatusCode::kNotFound);
  auto part = LoadRows({2, 3});
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(part->size(), 2);
}

TEST_F(IdxRowsTest, ReadsTheImagesOnlyUpToTheLastRowPicked) {
  // The header declares 1,500 images; the file holds 11 (random, so that
  // the gzip file is large enough for the header's size check to pass).
  std::mt19937 rng(1);
  Bytes pixels(11 * kPixels);
  for (auto& p : pixels) p = static_cast<uint8_t>(rng());
  Bytes cut = Idx({kCount, kSide, kSide}, pixels);
  WriteGz("train-images-idx3-ubyte.gz", cut);
  EXPECT_EQ(LoadIdxDir(dir_.string(), "idx").status().code(),
            StatusCode::kDataLoss);
  auto part = LoadRows({3, 10});
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(part->labels,
            (std::vector<int64_t>{Labels(kCount)[3], Labels(kCount)[10]}));
  auto past = LoadRows({3, 11});
  EXPECT_EQ(past.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(past.status().message().find("before example 11"),
            std::string::npos)
      << past.status().ToString();
  EXPECT_NE(past.status().message().find("train-images-idx3-ubyte.gz"),
            std::string::npos);
}

TEST_F(IdxRowsTest, NoRowsGiveAnEmptyDatasetWithItsMetadata) {
  auto part = LoadRows({});
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(part->size(), 0);
  EXPECT_TRUE(part->features.empty());
  EXPECT_EQ(part->example_shape, (std::vector<int64_t>{1, kSide, kSide}));
  EXPECT_EQ(part->num_classes, 10);
}

TEST_F(IdxRowsTest, RejectsRowsNotAscendingDistinctAndInRange) {
  for (const auto& rows :
       std::vector<std::vector<int64_t>>{{5, 3}, {2, 2}, {-1}, {kCount}}) {
    EXPECT_EQ(LoadRows(rows).status().code(), StatusCode::kInvalidArgument)
        << rows.size() << " rows from " << rows[0];
  }
  auto failed = LoadIdxTrainRows(
      dir_.string(), "idx", [](const Dataset&) -> Result<std::vector<int64_t>> {
        return FailedPrecondition("no rows for you");
      });
  EXPECT_EQ(failed.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(IdxRowsTest, ImageAndLabelCountsMustAgree) {
  WriteGz("train-labels-idx1-ubyte.gz", Idx({kCount - 1}, Labels(kCount - 1)));
  auto part = LoadRows({1});
  EXPECT_EQ(part.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(part.status().message().find("labels; are they from the same"),
            std::string::npos)
      << part.status().ToString();
}

// The built-in "idx" loader has load_train_rows; "idx-whole" is the same
// files through `load` alone, the path every shard took before.
TEST_F(IdxRowsTest, ShardsEqualThoseCutFromTheWholeTrainSplit) {
  static const bool registered =
      RegisterDataset(
          "idx-whole", "IDX files, whole splits only",
          [](const DatasetSource& s) { return LoadIdxDir(s.path, "idx"); })
          .ok();
  ASSERT_TRUE(registered);
  struct Layout {
    std::string partition;
    int num_experts;
    int64_t cap;
    std::vector<int> shards;
    double validation_fraction = 0;  // the slice no client trains on
  };
  for (const Layout& l : std::vector<Layout>{{"iid", 0, 0, {0, 3, 7}},
                                             {"grouped", 5, 40, {7, 2}},
                                             {"classes:2", 0, 25, {5, 5}},
                                             {"dirichlet:0.3", 0, 0, {1}},
                                             {"iid", 0, 0, {0, 6}, 0.2},
                                             {"grouped", 5, 0, {6}, 0.2}}) {
    ShardOptions o;
    o.data = {"idx", dir_.string(), {}, 1};
    o.partition = l.partition;
    o.num_experts = l.num_experts;
    o.max_examples_per_client = l.cap;
    o.validation_fraction = l.validation_fraction;
    o.num_shards = 8;
    o.seed = 4;
    auto fast = LoadShards(o, l.shards);
    o.data.name = "idx-whole";
    auto whole = LoadShards(o, l.shards);
    ASSERT_TRUE(fast.ok()) << l.partition << ": " << fast.status().ToString();
    ASSERT_TRUE(whole.ok()) << l.partition << ": " << whole.status().ToString();
    ASSERT_EQ(fast->size(), l.shards.size());
    for (size_t i = 0; i < l.shards.size(); ++i) {
      SCOPED_TRACE(l.partition + " shard " + std::to_string(l.shards[i]));
      EXPECT_GT((*fast)[i].size(), 0);
      ExpectSame((*fast)[i], (*whole)[i]);
    }
  }
}

// --validation-fraction: a shard holds its client's rows of the split cut
// with the slice, so no client trains on an example a validation client
// is scored on, on either loading path.
TEST_F(IdxRowsTest, ShardsLeaveOutTheValidationSlice) {
  auto whole = LoadIdxDir(dir_.string(), "idx");
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  ShardOptions o;
  o.data = {"idx", dir_.string(), {}, 1};
  o.partition = "grouped";
  o.num_experts = 5;
  o.num_shards = 8;
  o.seed = 4;
  o.validation_fraction = 0.2;
  SplitOptions so;
  so.partition = o.partition;
  so.num_clients = o.num_shards;
  so.num_experts = o.num_experts;
  so.seed = o.seed;
  so.validation_fraction = o.validation_fraction;
  auto split = MakeFederationSplit(whole->train.labels, 10, so);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  ASSERT_FALSE(split->validation_indices.empty());
  const std::vector<int> shards = {0, 6, 7};
  auto loaded = LoadShards(o, shards);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (size_t i = 0; i < shards.size(); ++i) {
    SCOPED_TRACE("shard " + std::to_string(shards[i]));
    ExpectSame((*loaded)[i],
               Subset(whole->train, split->clients[shards[i]].indices));
  }
}

TEST_F(IdxRowsTest, AClientLoadsItsShardWithoutTheTestSplit) {
  RemoveTestSplit();
  ShardOptions o;
  o.data = {"idx", dir_.string(), {}, 1};
  o.num_shards = 4;
  auto shards = LoadShards(o, {2});
  ASSERT_TRUE(shards.ok()) << shards.status().ToString();
  EXPECT_EQ((*shards)[0].size(), kCount / 4);
}

TEST_F(IdxRowsTest, ShardErrorsNameTheDataset) {
  RemoveTestSplit();
  std::filesystem::remove(dir_ / "train-labels-idx1-ubyte.gz");
  ShardOptions o;
  o.data = {"idx", dir_.string(), {}, 1};
  o.num_shards = 2;
  auto shards = LoadShards(o, {1});
  EXPECT_EQ(shards.status().code(), StatusCode::kNotFound);
  EXPECT_NE(shards.status().ToString().find("dataset 'idx'"), std::string::npos)
      << shards.status().ToString();
  EXPECT_NE(shards.status().ToString().find("train-labels-idx1-ubyte"),
            std::string::npos);
}

}  // namespace
}  // namespace fedjets::common
