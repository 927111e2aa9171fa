#include "common/learn/update_bounds.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fedjets::common {
namespace {

WireTensor Values(const std::string& name, std::vector<float> v) {
  WireTensor t{
      name, proto::DTYPE_FLOAT32, {static_cast<int64_t>(v.size())}, {}};
  t.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  return t;
}

std::vector<float> All(const ParameterList& list) {
  std::vector<float> out;
  for (const auto& t : list) {
    const auto* p = reinterpret_cast<const float*>(t.bytes.data());
    out.insert(out.end(), p, p + t.bytes.size() / 4);
  }
  return out;
}

TEST(DeltaL2NormTest, IsTheNormOfParamsMinusStartOverEveryTensor) {
  const ParameterList start = {Values("a", {1, 1}), Values("b", {0})};
  const ParameterList params = {Values("a", {4, 1}), Values("b", {4})};
  auto norm = DeltaL2Norm(params, start);
  ASSERT_TRUE(norm.ok()) << norm.status().ToString();
  EXPECT_DOUBLE_EQ(*norm, 5.0);  // sqrt(3^2 + 0 + 4^2)
}

TEST(DeltaL2NormTest, RejectsAnUpdateThatDoesNotMatchItsStart) {
  const ParameterList start = {Values("a", {1, 1})};
  const ParameterList params = {Values("a", {1, 1, 1})};
  auto norm = DeltaL2Norm(params, start);
  EXPECT_EQ(norm.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(norm.status().message().find("what the client was sent"),
            std::string::npos)
      << norm.status().ToString();
}

TEST(ClipDeltaTest, ScalesALongDeltaDownToTheNormAlongItsDirection) {
  const ParameterList start = {Values("a", {1, 1}), Values("b", {0})};
  ParameterList params = {Values("a", {4, 1}), Values("b", {4})};
  ASSERT_TRUE(ClipDelta(params, start, 1.0).ok());
  // delta (3, 0, 4) / 5 = (0.6, 0, 0.8)
  const std::vector<float> got = All(params);
  EXPECT_FLOAT_EQ(got[0], 1.6f);
  EXPECT_FLOAT_EQ(got[1], 1.0f);
  EXPECT_FLOAT_EQ(got[2], 0.8f);
  EXPECT_NEAR(*DeltaL2Norm(params, start), 1.0, 1e-6);
}

TEST(ClipDeltaTest, LeavesADeltaWithinTheNormBitForBit) {
  const ParameterList start = {Values("a", {1, 1})};
  ParameterList params = {Values("a", {1.1f, 0.9f})};
  const ParameterList before = params;
  ASSERT_TRUE(ClipDelta(params, start, 1.0).ok());
  EXPECT_EQ(params[0].bytes, before[0].bytes);
}

TEST(ClipDeltaTest, RefusesANonPositiveNormAndANonFiniteDelta) {
  const ParameterList start = {Values("a", {1})};
  ParameterList params = {Values("a", {2})};
  EXPECT_FALSE(ClipDelta(params, start, 0.0).ok());
  EXPECT_FALSE(ClipDelta(params, start, -1.0).ok());
  ParameterList nan = {Values("a", {std::nanf("")})};
  auto st = ClipDelta(nan, start, 1.0);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("nan"), std::string::npos) << st.ToString();
}

TEST(AddGaussianNoiseTest, SameSeedSameNoiseAndItHasTheAskedSpread) {
  ParameterList a = {Values("w", std::vector<float>(20000, 0.f))};
  ParameterList b = a;
  std::mt19937_64 r1(7), r2(7);
  ASSERT_TRUE(AddGaussianNoise(a, 0.5, r1).ok());
  ASSERT_TRUE(AddGaussianNoise(b, 0.5, r2).ok());
  EXPECT_EQ(a[0].bytes, b[0].bytes);
  double sum = 0, sq = 0;
  for (float v : All(a)) {
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  const double n = 20000, mean = sum / n;
  EXPECT_NEAR(mean, 0.0, 0.02);  // 4 standard errors of the mean
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean), 0.5, 0.02);
}

TEST(AddGaussianNoiseTest, ZeroSpreadLeavesTheValuesAndBadSpreadIsAnError) {
  ParameterList a = {Values("w", {1, 2, 3})};
  const ParameterList before = a;
  std::mt19937_64 rng(1);
  ASSERT_TRUE(AddGaussianNoise(a, 0.0, rng).ok());
  EXPECT_EQ(a[0].bytes, before[0].bytes);
  EXPECT_FALSE(AddGaussianNoise(a, -1.0, rng).ok());
  EXPECT_FALSE(AddGaussianNoise(a, std::nan(""), rng).ok());
}

}  // namespace
}  // namespace fedjets::common
