// The aggregation both strategies run (UpdateAggregator): the defaults are
// FedAvg's weighted mean bit for bit; clipping bounds each client's delta;
// the DP noise has the documented spread and follows the seed and round.
#include "coordinator/strategy/update_aggregator.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/learn/update_bounds.h"
#include "coordinator/strategy/strategy_context.h"

namespace fedjets::coordinator {
namespace {

common::WireTensor Values(std::vector<float> v) {
  common::WireTensor t{
      "w", proto::DTYPE_FLOAT32, {static_cast<int64_t>(v.size())}, {}};
  t.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  return t;
}

std::vector<float> ValuesOf(const common::ParameterList& list) {
  const auto* p = reinterpret_cast<const float*>(list[0].bytes.data());
  return {p, p + list[0].bytes.size() / 4};
}

ClientUpdate Update(const std::string& client, int64_t samples,
                    std::vector<float> params, std::vector<float> start) {
  ClientUpdate u;
  u.client = client;
  u.num_samples = samples;
  u.params = {Values(std::move(params))};
  u.start = {Values(std::move(start))};
  return u;
}

std::vector<common::WeightedParameters> Weighted(
    const std::vector<ClientUpdate>& updates) {
  std::vector<common::WeightedParameters> in;
  for (const auto& u : updates) {
    in.push_back({&u.params, static_cast<double>(u.num_samples)});
  }
  return in;
}

TEST(UpdateAggregatorTest, DefaultsAreTheWeightedAverageBitForBit) {
  std::vector<ClientUpdate> updates = {Update("a", 3, {0.1f, 7.f}, {0, 0}),
                                       Update("b", 5, {0.3f, -1.f}, {0, 0})};
  UpdateAggregator aggregator(StrategyOptions{}, /*round=*/1);
  ASSERT_TRUE(aggregator.ClipUpdates(updates).ok());
  auto got = aggregator.Combine(Weighted(updates));
  auto want = common::WeightedAverage(Weighted(updates));
  ASSERT_TRUE(got.ok() && want.ok());
  EXPECT_EQ((*got)[0].bytes, (*want)[0].bytes);
  EXPECT_FALSE(KeepsUpdateStart(StrategyOptions{}));
}

TEST(UpdateAggregatorTest, TheRuleComesFromTheOptions) {
  std::vector<ClientUpdate> updates = {
      Update("a", 1, {1}, {0}), Update("b", 1, {2}, {0}),
      Update("c", 1, {3}, {0}), Update("d", 1, {4}, {0}),
      Update("e", 1'000'000, {1000}, {0})};
  StrategyOptions o;
  o.aggregation = "trimmed-mean";
  o.trim_fraction = 0.2;
  UpdateAggregator trimmed(o, 1);
  EXPECT_EQ(ValuesOf(*trimmed.Combine(Weighted(updates))),
            std::vector<float>{3});
  o.aggregation = "median";
  UpdateAggregator median(o, 1);
  EXPECT_EQ(ValuesOf(*median.Combine(Weighted(updates))),
            std::vector<float>{3});
}

TEST(UpdateAggregatorTest, ClippingBoundsEachDeltaBeforeTheMean) {
  // Deltas (3, 4) and (0, 0.5) from start (1, 1); clip 1 -> (0.6, 0.8) and
  // (0, 0.5) unchanged; equal weights -> mean (1.3, 1.65).
  std::vector<ClientUpdate> updates = {Update("a", 1, {4, 5}, {1, 1}),
                                       Update("b", 1, {1, 1.5}, {1, 1})};
  StrategyOptions o;
  o.clip_norm = 1.0;
  EXPECT_TRUE(KeepsUpdateStart(o));
  UpdateAggregator aggregator(o, 1);
  ASSERT_TRUE(aggregator.ClipUpdates(updates).ok());
  EXPECT_NEAR(*common::DeltaL2Norm(updates[0].params, updates[0].start), 1.0,
              1e-6);
  const std::vector<float> mean =
      ValuesOf(*aggregator.Combine(Weighted(updates)));
  EXPECT_FLOAT_EQ(mean[0], 1.3f);
  EXPECT_FLOAT_EQ(mean[1], 1.65f);
}

TEST(UpdateAggregatorTest, ClippingAnUpdateWithoutItsStartNamesTheClient) {
  std::vector<ClientUpdate> updates = {Update("mallory", 1, {4, 5}, {1, 1})};
  updates[0].start.clear();
  StrategyOptions o;
  o.clip_norm = 1.0;
  auto st = UpdateAggregator(o, 1).ClipUpdates(updates);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'mallory'"), std::string::npos) << st.ToString();
}

// Four identical updates of zeros: the mean is exactly 0, so what comes
// back is the noise alone.
common::ParameterList NoisedZeros(const StrategyOptions& o, int round) {
  const std::vector<float> zeros(40'000, 0.f);
  std::vector<ClientUpdate> updates;
  for (const char* c : {"a", "b", "c", "d"}) {
    updates.push_back(Update(c, 10, zeros, zeros));
  }
  UpdateAggregator aggregator(o, round);
  EXPECT_TRUE(aggregator.ClipUpdates(updates).ok());
  auto r = aggregator.Combine(Weighted(updates));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

TEST(UpdateAggregatorTest, NoiseStdIsMultiplierTimesClipOverUpdates) {
  StrategyOptions o;
  o.clip_norm = 2.0;
  o.dp_noise_multiplier = 1.5;
  double sum = 0, sq = 0;
  const std::vector<float> v = ValuesOf(NoisedZeros(o, 1));
  for (float x : v) {
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  const double n = static_cast<double>(v.size()), mean = sum / n;
  const double want = 1.5 * 2.0 / 4;  // 0.75
  EXPECT_NEAR(mean, 0.0, 4 * want / std::sqrt(n));
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean), want, 0.02);
}

TEST(UpdateAggregatorTest, NoiseFollowsTheRunSeedAndTheRound) {
  StrategyOptions o;
  o.clip_norm = 1.0;
  o.dp_noise_multiplier = 1.0;
  const auto first = NoisedZeros(o, 3);
  EXPECT_EQ(NoisedZeros(o, 3)[0].bytes, first[0].bytes);
  EXPECT_NE(NoisedZeros(o, 4)[0].bytes, first[0].bytes);
  o.seed = 2;
  EXPECT_NE(NoisedZeros(o, 3)[0].bytes, first[0].bytes);
  EXPECT_NE(DpNoiseSeed(1, 3), RoundSeed(1, 3));
}

TEST(CheckAggregationOptionsTest, DefaultsPassAndEachBadValueNamesItsFlag) {
  EXPECT_TRUE(CheckAggregationOptions(StrategyOptions{}).ok());
  struct Case {
    std::function<void(StrategyOptions&)> set;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {[](auto& o) { o.aggregation = "krum"; }, "--aggregation"},
      {[](auto& o) { o.trim_fraction = -0.1; }, "--trim-fraction"},
      {[](auto& o) { o.trim_fraction = 0.5; }, "--trim-fraction"},
      {[](auto& o) { o.clip_norm = std::nan(""); }, "--clip-norm"},
      {[](auto& o) { o.dp_noise_multiplier = -1; }, "--dp-noise-multiplier"},
      {[](auto& o) { o.dp_noise_multiplier = 1; }, "needs --clip-norm"},
      {[](auto& o) { o.max_update_samples = 0; }, "--max-update-samples"},
      {[](auto& o) { o.max_update_norm = INFINITY; }, "--max-update-norm"},
      {[](auto& o) {
         o.streaming_aggregation = true;
         o.aggregation = "median";
       },
       "--streaming-aggregation"},
      {[](auto& o) {
         o.streaming_aggregation = true;
         o.clip_norm = 1;
       },
       "--streaming-aggregation"},
      {[](auto& o) {
         o.streaming_aggregation = true;
         o.algorithm = "fedjets";
       },
       "--streaming-aggregation"},
  };
  for (const auto& c : cases) {
    StrategyOptions o;
    c.set(o);
    common::Status st = CheckAggregationOptions(o);
    EXPECT_EQ(st.code(), common::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_NE(st.message().find(c.flag), std::string::npos) << st.ToString();
  }
}

}  // namespace
}  // namespace fedjets::coordinator
