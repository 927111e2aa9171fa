#include "common/learn/aggregate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace fedjets::common {
namespace {

WireTensor Filled(const std::string& name, int64_t n, float value) {
  WireTensor t{name, proto::DTYPE_FLOAT32, {n}, {}};
  std::vector<float> v(n, value);
  t.bytes.assign(reinterpret_cast<const char*>(v.data()), n * 4);
  return t;
}

float At(const WireTensor& t, size_t i) {
  return reinterpret_cast<const float*>(t.bytes.data())[i];
}

WireTensor Values(const std::string& name, std::vector<float> v) {
  WireTensor t{
      name, proto::DTYPE_FLOAT32, {static_cast<int64_t>(v.size())}, {}};
  t.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  return t;
}

// One single-tensor list per value of `per_update`, weighted 1 each but for
// the last, which claims `last_weight` samples.
struct Updates {
  std::vector<ParameterList> lists;
  std::vector<WeightedParameters> Weighted(double last_weight = 1.0) const {
    std::vector<WeightedParameters> in;
    for (const auto& l : lists) in.push_back({&l, 1.0});
    in.back().weight = last_weight;
    return in;
  }
};
Updates Make(const std::vector<std::vector<float>>& per_update) {
  Updates u;
  for (const auto& v : per_update) u.lists.push_back({Values("w", v)});
  return u;
}

std::vector<float> ValuesOf(const Result<ParameterList>& r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  const WireTensor& t = (*r)[0];
  return {reinterpret_cast<const float*>(t.bytes.data()),
          reinterpret_cast<const float*>(t.bytes.data()) + t.bytes.size() / 4};
}

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

TEST(AggregateTest, WeightedAverageWeighsBySamples) {
  ParameterList a = {Filled("w", 3, 1.f)};
  ParameterList b = {Filled("w", 3, 4.f)};
  auto avg = WeightedAverage({{&a, 2.0}, {&b, 1.0}});
  ASSERT_TRUE(avg.ok()) << avg.status().ToString();
  EXPECT_FLOAT_EQ(At((*avg)[0], 0), 2.f);
  EXPECT_FLOAT_EQ(At((*avg)[0], 2), 2.f);
}

TEST(AggregateTest, RejectsMismatchedShapesNamingTheUpdate) {
  ParameterList a = {Filled("w", 3, 1.f)};
  ParameterList b = {Filled("w", 4, 1.f)};
  auto avg = WeightedAverage({{&a, 1.0}, {&b, 1.0}});
  EXPECT_EQ(avg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(avg.status().message().find("update 1"), std::string::npos);
}

TEST(AggregateTest, RejectsZeroTotalWeight) {
  ParameterList a = {Filled("w", 3, 1.f)};
  EXPECT_FALSE(WeightedAverage({{&a, 0.0}}).ok());
  EXPECT_FALSE(WeightedAverage({}).ok());
}

TEST(CoordinateMedianTest, TakesTheMiddleValueOfEachCoordinate) {
  // Coordinate 0: 1, 3, 2 -> 2; coordinate 1: 9, -1, 5 -> 5.
  Updates u = Make({{1, 9}, {3, -1}, {2, 5}});
  EXPECT_EQ(ValuesOf(CoordinateMedian(u.Weighted())),
            (std::vector<float>{2, 5}));
}

TEST(CoordinateMedianTest, AveragesTheTwoMiddleValuesOfAnEvenCount) {
  Updates u = Make({{4}, {1}, {2}, {100}});
  EXPECT_EQ(ValuesOf(CoordinateMedian(u.Weighted())), std::vector<float>{3});
}

TEST(CoordinateMedianTest, IgnoresTheWeightsSoInflatedSamplesBuyNothing) {
  Updates u = Make({{1}, {2}, {1000}});
  EXPECT_EQ(ValuesOf(CoordinateMedian(u.Weighted(/*last_weight=*/1e12))),
            std::vector<float>{2});
  EXPECT_GT(ValuesOf(WeightedAverage(u.Weighted(1e12)))[0], 999.f)
      << "the weighted mean is the one an inflated count takes over";
}

TEST(CoordinateMedianTest, AMinorityOfNanNeverReachesTheResult) {
  Updates u = Make({{kNan, 1}, {2, kNan}, {3, 3}});
  EXPECT_EQ(ValuesOf(CoordinateMedian(u.Weighted())),
            (std::vector<float>{3, 3}));
}

TEST(CoordinateMedianTest, RejectsMismatchedUpdatesAndNothing) {
  ParameterList a = {Filled("w", 3, 1.f)};
  ParameterList b = {Filled("v", 3, 1.f)};
  auto m = CoordinateMedian({{&a, 1}, {&b, 1}});
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("update 1"), std::string::npos);
  EXPECT_FALSE(CoordinateMedian({}).ok());
}

TEST(CoordinateTrimmedMeanTest, DropsTheExtremesOfEachCoordinate) {
  // n = 5, fraction 0.2: one dropped at each end.
  // Coordinate 0: {-50, 1, 2, 3, 1000} -> mean(1, 2, 3) = 2.
  // Coordinate 1: {10, 20, 30, 40, 50} -> 30.
  Updates u = Make({{1000, 10}, {1, 50}, {2, 20}, {-50, 30}, {3, 40}});
  EXPECT_EQ(ValuesOf(CoordinateTrimmedMean(u.Weighted(), 0.2)),
            (std::vector<float>{2, 30}));
}

TEST(CoordinateTrimmedMeanTest, IgnoresTheWeights) {
  Updates u = Make({{1}, {2}, {3}, {4}, {1000}});
  EXPECT_EQ(ValuesOf(CoordinateTrimmedMean(u.Weighted(1e12), 0.2)),
            std::vector<float>{3});
}

TEST(CoordinateTrimmedMeanTest, TrimsFloorOfFractionTimesCountAtEachEnd) {
  // n = 10, fraction 0.29: 2 at each end (not 3), even where 0.29 * 10
  // rounds below 2.9.
  Updates u = Make({{-100}, {-90}, {1}, {2}, {3}, {4}, {5}, {6}, {90}, {100}});
  EXPECT_EQ(ValuesOf(CoordinateTrimmedMean(u.Weighted(), 0.29)),
            std::vector<float>{3.5});
  // n = 100, fraction 0.29 is 28.999999999999996 in doubles: still 29.
  std::vector<std::vector<float>> many;
  for (int i = 0; i < 100; ++i) many.push_back({i < 29 ? -1e6f : 1.f});
  Updates m = Make(many);
  EXPECT_EQ(ValuesOf(CoordinateTrimmedMean(m.Weighted(), 0.29))[0], 1.f);
}

TEST(CoordinateTrimmedMeanTest, TooFewUpdatesToTrimFallBackToTheMedian) {
  // n = 4, fraction 0.2: floor(0.8) = 0 would trim nothing and average
  // the outlier in; the median keeps it out.
  Updates u = Make({{1}, {2}, {3}, {1000}});
  EXPECT_EQ(ValuesOf(CoordinateTrimmedMean(u.Weighted(), 0.2)),
            std::vector<float>{2.5});
}

TEST(CoordinateTrimmedMeanTest, FractionZeroIsTheUnweightedMean) {
  Updates u = Make({{1}, {2}, {6}});
  EXPECT_EQ(ValuesOf(CoordinateTrimmedMean(u.Weighted(100), 0.0)),
            std::vector<float>{3});
}

TEST(CoordinateTrimmedMeanTest, TrimsNanAwayLikeAnyHighValue) {
  Updates u = Make({{kNan}, {1}, {2}, {3}, {-7}});
  EXPECT_EQ(ValuesOf(CoordinateTrimmedMean(u.Weighted(), 0.2)),
            std::vector<float>{2});
}

TEST(CoordinateTrimmedMeanTest, RejectsAFractionOutsideZeroToOneHalf) {
  Updates u = Make({{1}, {2}});
  for (double f : {-0.1, 0.5, 0.9, std::nan("")}) {
    auto r = CoordinateTrimmedMean(u.Weighted(), f);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << f;
    EXPECT_NE(r.status().message().find("[0, 0.5)"), std::string::npos);
  }
}

TEST(AggregateTest, DispatchesOnTheRuleAndTheMeanStaysTheWeightedAverage) {
  Updates u = Make({{1}, {2}, {3}, {4}, {1000}});
  EXPECT_EQ(ValuesOf(Aggregate(u.Weighted(3), {AggregationRule::kMean})),
            ValuesOf(WeightedAverage(u.Weighted(3))));
  EXPECT_EQ(ValuesOf(Aggregate(u.Weighted(3), {AggregationRule::kMedian})),
            std::vector<float>{3});
  EXPECT_EQ(
      ValuesOf(Aggregate(u.Weighted(3), {AggregationRule::kTrimmedMean, 0.2})),
      std::vector<float>{3});
}

TEST(AggregateTest, ParsesTheRuleNamesAndListsThemOnError) {
  EXPECT_EQ(*ParseAggregationRule("mean"), AggregationRule::kMean);
  EXPECT_EQ(*ParseAggregationRule("median"), AggregationRule::kMedian);
  EXPECT_EQ(*ParseAggregationRule("trimmed-mean"),
            AggregationRule::kTrimmedMean);
  auto bad = ParseAggregationRule("krum");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("mean, median or trimmed-mean"),
            std::string::npos);
}

}  // namespace
}  // namespace fedjets::common
