#include "common/data/csv_dataset.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "common/data/dataset_source.h"
#include "tests/common/data/csv_test_util.h"

namespace fedjets::common {
namespace {

using Names = std::vector<std::string>;

class CsvDatasetTest : public TempDirTest {
 protected:
  DatasetSource Source(const std::string& path,
                       std::map<std::string, std::string> options = {}) {
    DatasetSource s;
    s.name = "csv";
    s.path = path;
    s.options = std::move(options);
    return s;
  }

  // The error message of loading `text` as a CSV (fails the test if it
  // loads).
  std::string ErrorOf(const std::string& text,
                      std::map<std::string, std::string> options = {}) {
    auto r = LoadDataset(Source(Write("bad.csv", text), std::move(options)));
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.status().message();
  }

  // Ten rows per class of a one-feature CSV with labels `a` and `b`.
  std::string TwoClasses(const std::string& a, const std::string& b) {
    std::string text = "x,label\n";
    for (int i = 0; i < 10; ++i) {
      text += std::to_string(i) + "," + a + "\n";
      text += std::to_string(i + 100) + "," + b + "\n";
    }
    return text;
  }
};

#define EXPECT_CONTAINS(haystack, needle)               \
  EXPECT_NE((haystack).find(needle), std::string::npos) \
      << "'" << (needle) << "' not in: " << (haystack)

TEST_F(CsvDatasetTest, LoadsFeaturesShapeAndStringClassesInSortedOrder) {
  std::string text = "f1,f2,species\n";
  for (int i = 0; i < 5; ++i) {
    text += "1,2,Gentoo\n3,4,Adelie\n5,6,Chinstrap\n";
  }
  auto r = LoadDataset(Source(Write("p.csv", text)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train.example_shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(r->train.num_classes, 3);
  EXPECT_EQ(r->train.class_names, (Names{"Adelie", "Chinstrap", "Gentoo"}));
  EXPECT_EQ(r->test.class_names, r->train.class_names);
  EXPECT_EQ(r->train.size() + r->test.size(), 15);
  EXPECT_EQ(r->train.name, "p");
}

TEST_F(CsvDatasetTest, NumericLabelsAreOrderedByValueNotText) {
  auto r = LoadDataset(Source(Write("n.csv", TwoClasses("10", "2"))));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train.class_names, (Names{"2", "10"}));
  // x >= 100 rows carry label "2": class id 0.
  for (int64_t i = 0; i < r->train.size(); ++i) {
    EXPECT_EQ(r->train.labels[i], r->train.features[i] > 0 ? 0 : 1);
  }
}

TEST_F(CsvDatasetTest, NumericLabelsWithDifferentSpellingsAreOneClass) {
  auto r =
      LoadDataset(Source(Write("n.csv", "x,y\n1,1\n2,1.0\n3,2\n4,2\n"),
                         {{"standardize", "false"}, {"test_fraction", "0.4"}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train.class_names, (Names{"1", "2"}));
}

TEST_F(CsvDatasetTest, LabelColumnIsChosenByNameAndQuotedLabelsWork) {
  auto r = LoadDataset(Source(
      Write("q.csv",
            "\"kind, of\",x\r\n\"b, y\",1\r\na,2\r\n\"b, y\",3\r\na,4\r\n"),
      {{"label", "kind, of"}, {"test_fraction", "0.5"}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train.class_names, (Names{"a", "b, y"}));
  EXPECT_EQ(r->train.example_shape, (std::vector<int64_t>{1}));
}

TEST_F(CsvDatasetTest, ExplicitClassesFixTheOrder) {
  auto r = LoadDataset(Source(Write("c.csv", TwoClasses("cat", "dog")),
                              {{"classes", "dog,cat"}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train.class_names, (Names{"dog", "cat"}));
}

TEST_F(CsvDatasetTest, IgnoredColumnsAreDropped) {
  auto r =
      LoadDataset(Source(Write("i.csv",
                               "id,x,island,y\n1,2,Biscoe,a\n2,3,Dream,a\n"
                               "3,4,Biscoe,b\n4,5,Dream,b\n"),
                         {{"ignore", "id, island"}, {"test_fraction", "0.5"}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train.example_shape, (std::vector<int64_t>{1}));
}

TEST_F(CsvDatasetTest, StandardisationUsesTrainStatisticsOnly) {
  // Separate test file with wildly different values: train stats must not
  // move, so train features have mean 0 and std 1 exactly.
  Write("train.csv", "x,c,y\n1,5,a\n3,5,a\n5,5,b\n7,5,b\n");
  Write("test.csv", "x,c,y\n1000,9,a\n-1000,9,b\n");
  auto r = LoadDataset(Source(Path("train.csv"), {{"test", Path("test.csv")}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& f = r->train.features;  // [x, c] per row
  ASSERT_EQ(f.size(), 8u);
  const double mean = 4.0, sd = std::sqrt(5.0);
  EXPECT_NEAR(f[0], (1 - mean) / sd, 1e-6);
  EXPECT_NEAR(f[6], (7 - mean) / sd, 1e-6);
  EXPECT_FLOAT_EQ(f[1], 0.0f);  // constant column: std 1, minus its mean
  EXPECT_NEAR(r->test.features[0], (1000 - mean) / sd, 1e-3);
  EXPECT_FLOAT_EQ(r->test.features[1], 4.0f);  // (9 - 5) / 1
  EXPECT_EQ(r->test.size(), 2);
}

TEST_F(CsvDatasetTest, StandardisationOfASplitIgnoresTheTestRows) {
  auto r = LoadDataset(Source(Write("s.csv", TwoClasses("a", "b"))));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  double sum = 0, sq = 0;
  for (float v : r->train.features) sum += v;
  const double n = static_cast<double>(r->train.features.size());
  for (float v : r->train.features) sq += (v - sum / n) * (v - sum / n);
  EXPECT_NEAR(sum / n, 0.0, 1e-5);
  EXPECT_NEAR(sq / n, 1.0, 1e-5);
}

TEST_F(CsvDatasetTest, StandardizeFalseKeepsRawValues) {
  auto r = LoadDataset(
      Source(Write("r.csv", TwoClasses("a", "b")), {{"standardize", "false"}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (float v : r->train.features) EXPECT_EQ(v, std::round(v));
}

TEST_F(CsvDatasetTest, SplitIsStratifiedAndSeeded) {
  std::string text = "x,y\n";
  for (int i = 0; i < 100; ++i) text += std::to_string(i) + ",a\n";
  for (int i = 0; i < 30; ++i) text += std::to_string(i) + ",b\n";
  const std::string path = Write("s.csv", text);
  auto load = [&](uint64_t seed) {
    DatasetSource s = Source(path, {{"standardize", "false"}});
    s.seed = seed;
    auto r = LoadDataset(s);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value();
  };
  const TrainTest a = load(7), b = load(7), c = load(8);
  EXPECT_EQ(ClassCounts(a.test), (std::vector<int64_t>{20, 6}));
  EXPECT_EQ(ClassCounts(a.train), (std::vector<int64_t>{80, 24}));
  EXPECT_EQ(a.test.features, b.test.features);  // same seed, same split
  EXPECT_NE(a.test.features, c.test.features);  // another seed, another
}

TEST_F(CsvDatasetTest, SeedOptionOverridesSourceSeed) {
  const std::string path = Write("s.csv", TwoClasses("a", "b"));
  DatasetSource s1 = Source(path, {{"seed", "8"}});
  DatasetSource s2 = Source(path);
  s2.seed = 8;
  auto a = LoadDataset(s1), b = LoadDataset(s2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->test.features, b->test.features);
}

TEST(StratifiedSplitTest, KeepsOneTrainExampleOfEveryClass) {
  const auto s = StratifiedSplit({0, 1, 1}, 2, 0.9, 1);
  EXPECT_EQ(s.train.size(), 2u);  // class 0's only example stays in train
  EXPECT_EQ(s.test.size(), 1u);
}

TEST_F(CsvDatasetTest, EmptyFileIsAnError) {
  EXPECT_CONTAINS(ErrorOf(""), "bad.csv: empty file");
}

TEST_F(CsvDatasetTest, HeaderWithoutRowsIsAnError) {
  EXPECT_CONTAINS(ErrorOf("x,y\n"), "no data rows");
}

TEST_F(CsvDatasetTest, RaggedRowNamesFileAndLine) {
  const std::string m = ErrorOf("x,z,y\n1,2,a\n3,b\n");
  EXPECT_CONTAINS(m, "bad.csv, line 3");
  EXPECT_CONTAINS(m, "2 field(s) but the header has 3");
}

TEST_F(CsvDatasetTest, NonNumericFeatureNamesFileLineAndColumn) {
  const std::string m = ErrorOf("x,z,y\n1,2,a\n3,NA,b\n");
  EXPECT_CONTAINS(m, "bad.csv, line 3, column 2 ('z')");
  EXPECT_CONTAINS(m, "'NA' is not a finite number");
}

TEST_F(CsvDatasetTest, InfinityIsNotAFeature) {
  EXPECT_CONTAINS(ErrorOf("x,y\ninf,a\n"), "line 2, column 1");
}

TEST_F(CsvDatasetTest, MissingLabelColumnListsTheColumns) {
  const std::string m = ErrorOf("x,y\n1,a\n", {{"label", "species"}});
  EXPECT_CONTAINS(m, "bad.csv, line 1: no label column 'species'");
  EXPECT_CONTAINS(m, "columns: x, y");
}

TEST_F(CsvDatasetTest, EmptyLabelNamesFileLineAndColumn) {
  EXPECT_CONTAINS(ErrorOf("x,y\n1,a\n2,\n"), "bad.csv, line 3, column 2");
}

TEST_F(CsvDatasetTest, DuplicateColumnNameIsAnError) {
  EXPECT_CONTAINS(ErrorOf("x,x,y\n1,2,a\n"), "line 1, column 2");
}

TEST_F(CsvDatasetTest, LabelOutsideExplicitClassesNamesTheRow) {
  const std::string m = ErrorOf("x,y\n1,a\n2,b\n3,c\n", {{"classes", "a,b"}});
  EXPECT_CONTAINS(m, "bad.csv, line 4, column 2: label 'c'");
}

TEST_F(CsvDatasetTest, ClassMissingFromTrainSplitIsAnError) {
  Write("train.csv", "x,y\n1,a\n2,a\n");
  Write("test.csv", "x,y\n1,a\n2,b\n");
  auto r = LoadDataset(Source(Path("train.csv"), {{"test", Path("test.csv")}}));
  ASSERT_FALSE(r.ok());
  EXPECT_CONTAINS(r.status().message(), "class 'b' has no examples");
  EXPECT_CONTAINS(r.status().message(), "train.csv");
}

TEST_F(CsvDatasetTest, ExplicitClassAbsentFromDataIsAnError) {
  EXPECT_CONTAINS(ErrorOf(TwoClasses("a", "b"), {{"classes", "a,b,c"}}),
                  "class 'c' has no examples");
}

TEST_F(CsvDatasetTest, TestFileWithOtherColumnsIsAnError) {
  Write("train.csv", "x,y\n1,a\n");
  Write("test.csv", "z,y\n1,a\n");
  auto r = LoadDataset(Source(Path("train.csv"), {{"test", Path("test.csv")}}));
  ASSERT_FALSE(r.ok());
  EXPECT_CONTAINS(r.status().message(), "test.csv: feature columns (z)");
}

TEST_F(CsvDatasetTest, MissingFileIsNotFound) {
  auto r = LoadDataset(Source(Path("absent.csv")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_CONTAINS(r.status().message(), "absent.csv");
}

TEST_F(CsvDatasetTest, UnknownAndBadOptionsAreRejected) {
  const std::string path = Write("o.csv", TwoClasses("a", "b"));
  auto unknown = LoadDataset(Source(path, {{"lable", "y"}}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_CONTAINS(unknown.status().message(), "unknown --data-option 'lable'");
  auto fraction = LoadDataset(Source(path, {{"test_fraction", "1.5"}}));
  ASSERT_FALSE(fraction.ok());
  EXPECT_CONTAINS(fraction.status().message(), "test_fraction=1.5");
}

}  // namespace
}  // namespace fedjets::common
