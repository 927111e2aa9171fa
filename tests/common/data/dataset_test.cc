#include "common/data/dataset.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;

using Bytes = std::vector<uint8_t>;

void PutBigEndian32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(v >> shift);
}

// An IDX file of unsigned bytes: magic 0x000008<ndims>, dims, payload.
Bytes Idx(const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes out;
  PutBigEndian32(out, 0x0800u | static_cast<uint32_t>(dims.size()));
  for (uint32_t d : dims) PutBigEndian32(out, d);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

class DatasetTest : public ::testing::Test {
 protected:
  // Three 2x3 images with pixel i = 15 * i (so the last one is 255).
  static constexpr uint32_t kRows = 2, kCols = 3, kCount = 3;

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("fedjets_" + std::string(info->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const {
    return (dir_ / name).string();
  }

  std::string Write(const std::string& name, const Bytes& bytes) {
    std::ofstream(Path(name), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return Path(name);
  }

  std::string WriteGz(const std::string& name, const Bytes& bytes) {
    gzFile f = gzopen(Path(name).c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), bytes.size()),
              static_cast<int>(bytes.size()));
    gzclose(f);
    return Path(name);
  }

  static Bytes Pixels() {
    Bytes p;
    for (uint32_t i = 0; i < kCount * kRows * kCols; ++i) p.push_back(15 * i);
    return p;
  }
  static Bytes Images() { return Idx({kCount, kRows, kCols}, Pixels()); }
  static Bytes Labels() { return Idx({kCount}, {2, 0, 1}); }

  static void ExpectSmallDataset(const Dataset& d) {
    EXPECT_EQ(d.name, "tiny");
    EXPECT_EQ(d.size(), 3);
    EXPECT_EQ(d.example_shape, (std::vector<int64_t>{1, 2, 3}));
    EXPECT_EQ(d.ExampleSize(), 6);
    EXPECT_EQ(d.num_classes, 3);
    EXPECT_EQ(d.class_names, (std::vector<std::string>{"0", "1", "2"}));
    EXPECT_EQ(d.labels, (std::vector<int64_t>{2, 0, 1}));
    ASSERT_EQ(d.features.size(), 18u);
    for (int i = 0; i < 18; ++i) {
      EXPECT_FLOAT_EQ(d.features[i], 15.0f * i / 255.0f) << "pixel " << i;
    }
    EXPECT_FLOAT_EQ(d.features.back(), 1.0f);
  }

  fs::path dir_;
};

using DatasetDeathTest = DatasetTest;

TEST_F(DatasetTest, LoadsPlainIdxFilesWithPixelsScaledToUnitRange) {
  auto d = LoadIdx(Write("img", Images()), Write("lbl", Labels()), "tiny");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ExpectSmallDataset(*d);
}

TEST_F(DatasetTest, LoadsGzippedIdxFiles) {
  auto d =
      LoadIdx(WriteGz("img.gz", Images()), WriteGz("lbl.gz", Labels()), "tiny");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ExpectSmallDataset(*d);
}

TEST_F(DatasetTest, NumClassesHintOverridesLargestLabel) {
  auto d = LoadIdx(Write("img", Images()), Write("lbl", Labels()), "tiny",
                   /*num_classes_hint=*/5);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->num_classes, 5);
  EXPECT_EQ(d->class_names.size(), 5u);
}

TEST_F(DatasetTest, UsesFashionMnistClassNamesForThatName) {
  auto d = LoadIdx(Write("img", Images()), Write("lbl", Labels()),
                   "fashion-mnist", /*num_classes_hint=*/10);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->class_names.size(), 10u);
  EXPECT_EQ(d->class_names[0], "T-shirt/top");
  EXPECT_EQ(d->class_names[9], "Ankle boot");
}

TEST_F(DatasetTest, RejectsLabelAtOrAboveHint) {
  auto d = LoadIdx(Write("img", Images()), Write("lbl", Labels()), "tiny",
                   /*num_classes_hint=*/2);
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find(Path("lbl")), std::string::npos);
  EXPECT_NE(d.status().message().find("label 2"), std::string::npos);
}

TEST_F(DatasetTest, RejectsBadImageMagicNamingTheFile) {
  Bytes bad = Images();
  bad[0] = 0x1f;
  auto d = LoadIdx(Write("img", bad), Write("lbl", Labels()), "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find(Path("img")), std::string::npos);
  EXPECT_NE(d.status().message().find("magic"), std::string::npos);
}

TEST_F(DatasetTest, RejectsSwappedImageAndLabelPaths) {
  const std::string img = Write("img", Images());
  const std::string lbl = Write("lbl", Labels());
  auto d = LoadIdx(lbl, img, "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("swapped"), std::string::npos);
}

TEST_F(DatasetTest, RejectsTruncatedPlainImages) {
  Bytes short_file = Images();
  short_file.resize(short_file.size() - 5);
  auto d = LoadIdx(Write("img", short_file), Write("lbl", Labels()), "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(d.status().message().find(Path("img")), std::string::npos);
  EXPECT_NE(d.status().message().find("truncated"), std::string::npos);
}

TEST_F(DatasetTest, RejectsGzippedImagesShorterThanTheirHeader) {
  Bytes short_file = Images();
  short_file.resize(short_file.size() - 5);
  auto d =
      LoadIdx(WriteGz("img.gz", short_file), Write("lbl", Labels()), "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(d.status().message().find("truncated"), std::string::npos);
}

TEST_F(DatasetTest, RejectsCutOffGzipStream) {
  Bytes big = Idx({200, 28, 28}, Bytes(200 * 28 * 28, 7));
  const std::string path = WriteGz("img.gz", big);
  fs::resize_file(path, fs::file_size(path) / 2);
  auto d = LoadIdx(path, Write("lbl", Idx({200}, Bytes(200, 1))), "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(d.status().message().find(path), std::string::npos);
}

TEST_F(DatasetTest, RejectsBytesPastTheDeclaredData) {
  Bytes long_file = Images();
  long_file.push_back(0);
  auto d = LoadIdx(Write("img", long_file), Write("lbl", Labels()), "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
}

TEST_F(DatasetTest, RejectsHugeHeaderDimsBeforeAllocating) {
  auto d = LoadIdx(Write("img", Idx({0xffffffffu, 0xffffu, 0xffffu}, {})),
                   Write("lbl", Labels()), "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find(Path("img")), std::string::npos);
}

// No examples, but per-example dims whose product overflows int64 (a fuzz
// finding: the bound ignored them once the count was 0).
TEST_F(DatasetTest, RejectsHugeExampleDimsEvenWithNoExamples) {
  auto d = LoadIdx(Write("img", Idx({0, 0xffffffffu, 0xffffff09u}, {})),
                   Write("lbl", Idx({0}, {})), "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("elements"), std::string::npos)
      << d.status().ToString();
}

TEST_F(DatasetTest, RejectsImageAndLabelCountMismatch) {
  auto d =
      LoadIdx(Write("img", Images()), Write("lbl", Idx({2}, {0, 1})), "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("3 images"), std::string::npos);
  EXPECT_NE(d.status().message().find("2 labels"), std::string::npos);
}

TEST_F(DatasetTest, MissingFileIsNotFoundAndNamesTheFile) {
  auto d = LoadIdx(Path("nope-images"), Write("lbl", Labels()), "tiny");
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
  EXPECT_NE(d.status().message().find(Path("nope-images")), std::string::npos);
}

TEST_F(DatasetTest, LoadIdxDirFindsGzippedAndPlainFiles) {
  WriteGz("train-images-idx3-ubyte.gz", Images());
  WriteGz("train-labels-idx1-ubyte.gz", Labels());
  Write("t10k-images-idx3-ubyte", Idx({1, kRows, kCols}, Bytes(6, 255)));
  Write("t10k-labels-idx1-ubyte", Idx({1}, {0}));
  auto tt = LoadIdxDir(dir_.string(), "tiny");
  ASSERT_TRUE(tt.ok()) << tt.status().ToString();
  ExpectSmallDataset(tt->train);
  EXPECT_EQ(tt->test.size(), 1);
  // Label 0 alone would infer one class; the test set follows the train set.
  EXPECT_EQ(tt->test.num_classes, 3);
}

TEST_F(DatasetTest, LoadIdxDirNamesTheMissingFile) {
  WriteGz("train-images-idx3-ubyte.gz", Images());
  auto tt = LoadIdxDir(dir_.string(), "tiny");
  EXPECT_EQ(tt.status().code(), StatusCode::kNotFound);
  EXPECT_NE(tt.status().message().find("train-labels-idx1-ubyte"),
            std::string::npos);
  auto none = LoadIdxDir(Path("no-such-dir"), "tiny");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
}

TEST_F(DatasetTest, SubsetCopiesExamplesInTheGivenOrder) {
  auto d = LoadIdx(Write("img", Images()), Write("lbl", Labels()), "tiny");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  Dataset s = Subset(*d, {2, 0, 2});
  EXPECT_EQ(s.size(), 3);
  EXPECT_EQ(s.labels, (std::vector<int64_t>{1, 2, 1}));
  EXPECT_EQ(s.example_shape, d->example_shape);
  EXPECT_EQ(s.num_classes, 3);
  ASSERT_EQ(s.features.size(), 18u);
  EXPECT_FLOAT_EQ(s.features[0], d->features[12]);
  EXPECT_FLOAT_EQ(s.features[6], d->features[0]);
  EXPECT_EQ(Subset(*d, {}).size(), 0);
}

TEST_F(DatasetTest, ClassCountsCountsEachClass) {
  Dataset d;
  d.num_classes = 4;
  d.labels = {3, 1, 3, 3, 0};
  EXPECT_EQ(ClassCounts(d), (std::vector<int64_t>{1, 1, 0, 3}));
}

TEST_F(DatasetDeathTest, SubsetAbortsOnOutOfRangeIndex) {
  Dataset d;
  d.example_shape = {1};
  d.num_classes = 1;
  d.labels = {0, 0};
  d.features = {0.5f, 0.25f};
  EXPECT_DEATH(Subset(d, {1, 2}), "index 2 outside");
}

TEST_F(DatasetTest, LoadsRealFashionMnistWhenInstalled) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::is_directory(dir)) GTEST_SKIP() << dir << " not installed";
  auto tt = LoadIdxDir(dir, "fashion-mnist");
  ASSERT_TRUE(tt.ok()) << tt.status().ToString();
  EXPECT_EQ(tt->train.size(), 60000);
  EXPECT_EQ(tt->test.size(), 10000);
  for (const Dataset* d : {&tt->train, &tt->test}) {
    EXPECT_EQ(d->num_classes, 10);
    EXPECT_EQ(d->example_shape, (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(d->features.size(), static_cast<size_t>(d->size()) * 784);
    EXPECT_EQ(d->class_names[7], "Sneaker");
  }
  // Fashion-MNIST is balanced: 6000 train and 1000 test examples per class.
  EXPECT_EQ(ClassCounts(tt->train), std::vector<int64_t>(10, 6000));
  EXPECT_EQ(ClassCounts(tt->test), std::vector<int64_t>(10, 1000));
}

}  // namespace
}  // namespace fedjets::common
