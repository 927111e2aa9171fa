#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/learn/aggregate.h"

namespace fedjets::common {
namespace {

WireTensor Values(const std::string& name, const std::vector<float>& v) {
  WireTensor t{
      name, proto::DTYPE_FLOAT32, {static_cast<int64_t>(v.size())}, {}};
  t.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  return t;
}

float At(const WireTensor& t, size_t i) {
  return reinterpret_cast<const float*>(t.bytes.data())[i];
}

TEST(StreamingMeanTest, IsTheWeightedMeanOfWhatWasAdded) {
  const ParameterList a = {Values("w", {1, 2}), Values("b", {10})};
  const ParameterList b = {Values("w", {3, 6}), Values("b", {-10})};
  StreamingMean mean;
  ASSERT_TRUE(mean.Add(a, 1).ok());
  ASSERT_TRUE(mean.Add(b, 3).ok());
  EXPECT_EQ(mean.count(), 2);
  auto got = mean.Mean();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].name, "w");
  EXPECT_FLOAT_EQ(At((*got)[0], 0), 2.5f);
  EXPECT_FLOAT_EQ(At((*got)[0], 1), 5.0f);
  EXPECT_FLOAT_EQ(At((*got)[1], 0), -5.0f);
}

// 2^60 + 1 - 2^60 loses the 1 in plain double arithmetic in one order and
// keeps it in another; the compensated sum keeps it in every order.
TEST(StreamingMeanTest, TheOrderUpdatesArriveInDoesNotChangeTheResult) {
  const float big = std::ldexp(1.0f, 60);
  std::vector<ParameterList> updates = {
      {Values("w", {big})}, {Values("w", {1.0f})}, {Values("w", {-big})}};
  std::vector<int> order = {0, 1, 2};
  do {
    StreamingMean mean;
    for (int k : order) ASSERT_TRUE(mean.Add(updates[k], 1).ok());
    auto got = mean.Mean();
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(At((*got)[0], 0), 1.0f / 3) << order[0] << order[1] << order[2];
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(StreamingMeanTest, ShuffledRandomUpdatesGiveTheSameBytes) {
  std::mt19937 rng(3);
  std::normal_distribution<float> value(0, 1);
  std::vector<ParameterList> updates;
  std::vector<double> weights;
  for (int k = 0; k < 40; ++k) {
    std::vector<float> v(2000);
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 30) - 15);
    for (float& x : v) x = scale * value(rng);
    updates.push_back({Values("w", v)});
    weights.push_back(static_cast<double>(1 + rng() % 5000));
  }
  std::vector<int> order(updates.size());
  std::iota(order.begin(), order.end(), 0);
  std::string first;
  for (int trial = 0; trial < 10; ++trial) {
    std::shuffle(order.begin(), order.end(), rng);
    StreamingMean mean;
    for (int k : order) ASSERT_TRUE(mean.Add(updates[k], weights[k]).ok());
    auto got = mean.Mean();
    ASSERT_TRUE(got.ok());
    if (trial == 0) first = (*got)[0].bytes;
    EXPECT_TRUE((*got)[0].bytes == first) << "trial " << trial;
  }
}

TEST(StreamingMeanTest, FoldingSeveralAtOnceIsFoldingThemOneByOne) {
  std::mt19937 rng(9);
  std::normal_distribution<float> value(0, 1);
  std::vector<ParameterList> updates;
  for (int k = 0; k < 7; ++k) {
    std::vector<float> v(1001);
    for (float& x : v) x = std::ldexp(value(rng), k * 9 - 30);
    updates.push_back({Values("w", v)});
  }
  StreamingMean one_by_one, together;
  std::vector<WeightedParameters> all;
  for (int k = 0; k < 7; ++k) {
    ASSERT_TRUE(one_by_one.Add(updates[k], 1.0 + k).ok());
    all.push_back({&updates[k], 1.0 + k});
  }
  ASSERT_TRUE(together.Add(all).ok());  // a group of four, then three
  EXPECT_EQ(together.count(), 7);
  EXPECT_TRUE((*together.Mean())[0].bytes == (*one_by_one.Mean())[0].bytes);
}

TEST(StreamingMeanTest, AGroupWithABadUpdateAddsNone) {
  const ParameterList good = {Values("w", {1, 2})};
  const ParameterList bad = {Values("w", {1})};
  StreamingMean mean;
  Status st = mean.Add(std::vector<WeightedParameters>{{&good, 1}, {&bad, 1}});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(mean.count(), 0);
}

TEST(StreamingMeanTest, AMismatchedUpdateIsRefusedAndLeavesTheSum) {
  StreamingMean mean;
  ASSERT_TRUE(mean.Add({Values("w", {2, 4})}, 1).ok());
  Status st = mean.Add({Values("w", {1, 2, 3})}, 1);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("update 1 does not match update 0"),
            std::string::npos)
      << st.ToString();
  EXPECT_EQ(mean.Add({Values("v", {1, 2})}, 1).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(mean.count(), 1);
  auto got = mean.Mean();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(At((*got)[0], 1), 4.0f);
}

TEST(StreamingMeanTest, RefusesBadWeightsAndAnEmptyMean) {
  StreamingMean mean;
  EXPECT_EQ(mean.Mean().status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(mean.Add({Values("w", {1})}, -1).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(mean.Add({Values("w", {1})}, NAN).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(mean.Add({Values("w", {1})}, 0).ok());
  EXPECT_NE(mean.Mean().status().message().find("weights sum to zero"),
            std::string::npos);
}

}  // namespace
}  // namespace fedjets::common
