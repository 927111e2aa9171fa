#include "common/learn/aggregate.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace fedjets::common
