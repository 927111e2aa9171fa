#include "common/learn/moe.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>

#include "common/learn/moe_serving.h"
#include "tests/common/learn/toy_experts.h"

namespace fedjets::common {
namespace {

// Two well-separated clusters in embedding space, one per class.
struct Toy {
  TensorData data;
  torch::Tensor z;
};

Toy MakeToy(int64_t n, int64_t label, float center) {
  Toy t;
  t.data.x = torch::randn({n, 4}) * 0.1 + center;
  t.data.y = torch::full({n}, label, torch::kInt64);
  t.z = t.data.x.clone();
  return t;
}

TEST(MoeTest, SelectExpertsReturnsTopKOfMeanScoresBestFirst) {
  torch::manual_seed(0);
  Gate gate(4, 8, 5);
  torch::Tensor z = torch::randn({32, 4});
  torch::Tensor scores = MeanGateScores(*gate, z);
  auto ids = SelectExperts(*gate, z, 2);
  ASSERT_EQ(ids.size(), 2u);
  auto sorted = std::get<1>(scores.sort(/*dim=*/0, /*descending=*/true));
  EXPECT_EQ(ids[0], sorted[0].item<int>());
  EXPECT_EQ(ids[1], sorted[1].item<int>());
}

TEST(MoeTest, AnchorTrainingTeachesTheGateItsExpert) {
  torch::manual_seed(0);
  Toy toy = MakeToy(256, 1, 1.0f);
  Gate gate(4, 8, 5);
  auto expert = MakeClassifier({"mlp", {4}, 2, 8}, 1);
  ASSERT_TRUE(expert.ok()) << expert.status().ToString();
  TrainOptions o;
  o.local_epochs = 5;
  o.batch_size = 32;
  o.learning_rate = 0.05;
  const float before = MeanGateScores(*gate, toy.z)[3].item<float>();
  ASSERT_TRUE(TrainAnchor(**expert, *gate, /*expert_id=*/3, toy.data, toy.z, o,
                          /*gate_lr=*/0.5, /*gate_weight=*/1.0)
                  .ok());
  const float after = MeanGateScores(*gate, toy.z)[3].item<float>();
  EXPECT_GT(after, before);
  EXPECT_EQ(SelectExperts(*gate, toy.z, 1), std::vector<int>{3});
  EXPECT_GT(Evaluate(**expert, toy.data).accuracy, 0.99);
}

TEST(MoeTest, MixtureTrainingUpdatesOnlyTheSelectedExperts) {
  torch::manual_seed(0);
  Toy toy = MakeToy(128, 0, -1.0f);
  Gate gate(4, 8, 3);
  Experts experts = MakeExperts(3, /*classes=*/2);
  ASSERT_EQ(experts.owned.size(), 3u);
  auto untouched = ToWire(*experts.owned[1]);
  auto trained_before = ToWire(*experts.owned[2]);
  TrainOptions o;
  o.learning_rate = 0.05;
  ASSERT_TRUE(
      TrainMixture(experts.pointers, {0, 2}, *gate, toy.data, toy.z, o, 0.1)
          .ok());
  auto untouched_after = ToWire(*experts.owned[1]);
  auto trained_after = ToWire(*experts.owned[2]);
  for (size_t i = 0; i < untouched.size(); ++i) {
    EXPECT_EQ(untouched[i].bytes, untouched_after[i].bytes);
  }
  EXPECT_NE(trained_before[0].bytes, trained_after[0].bytes);
}

TEST(MoeTest, JitPredictUsesTheHighestScoringSelectedExpertPerSample) {
  torch::manual_seed(0);
  Gate gate(4, 8, 3);
  Experts experts = MakeExperts(3, /*classes=*/5);
  ASSERT_EQ(experts.owned.size(), 3u);
  torch::Tensor x = torch::randn({64, 4});
  auto jit = JitPredict(*gate, experts.pointers, x, /*z=*/x, /*k=*/2);
  ASSERT_EQ(jit.selected.size(), 2u);
  torch::NoGradGuard no_grad;
  torch::Tensor logits = gate->forward(x);
  for (int64_t i = 0; i < x.size(0); ++i) {
    const int a = jit.selected[0], b = jit.selected[1];
    const int want =
        logits[i][a].item<float>() >= logits[i][b].item<float>() ? a : b;
    EXPECT_EQ(jit.chosen[i].item<int64_t>(), want) << "sample " << i;
    EXPECT_EQ(jit.predictions[i].item<int64_t>(),
              experts.owned[want]
                  ->forward(x.slice(0, i, i + 1))
                  .argmax(1)
                  .item<int64_t>());
  }
}

TEST(MoeTest, JitPredictTakesNoGradientStep) {
  torch::manual_seed(0);
  Gate gate(4, 8, 2);
  Experts experts = MakeExperts(2, /*classes=*/3);
  ASSERT_EQ(experts.owned.size(), 2u);
  auto before = ToWire(*gate);
  auto e0_before = ToWire(*experts.owned[0]);
  torch::Tensor x = torch::randn({16, 4});
  (void)JitPredict(*gate, experts.pointers, x, x, 2);
  auto after = ToWire(*gate);
  auto e0_after = ToWire(*experts.owned[0]);
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_EQ(before[i].bytes, after[i].bytes);
  for (size_t i = 0; i < e0_before.size(); ++i) {
    EXPECT_EQ(e0_before[i].bytes, e0_after[i].bytes);
  }
}

TEST(MoeTest, TopKSelectionNeverPicksTheGeneralist) {
  torch::manual_seed(0);
  Gate gate = GeneralistGate(3, /*generalist_bias=*/100.0f);
  torch::Tensor z = torch::randn({32, 4});
  EXPECT_EQ(MeanGateScores(*gate, z, /*generalist=*/true).size(0), 3);
  auto ids = SelectExperts(*gate, z, 3, /*generalist=*/true);
  ASSERT_EQ(ids.size(), 3u);
  for (int q : ids) EXPECT_LT(q, 3);
  // Without the flag the same gate's last output would win.
  EXPECT_EQ(SelectExperts(*gate, z, 1)[0], 3);
}

TEST(MoeTest, ServingUsesTheGeneralistWhereTheGateScoresItHighest) {
  torch::manual_seed(0);
  Experts experts = MakeExperts(4, /*classes=*/5);  // 3 + the generalist
  ASSERT_EQ(experts.owned.size(), 4u);
  torch::Tensor x = torch::randn({64, 4});
  Gate favoured = GeneralistGate(3, 100.0f);
  auto jit = JitPredict(*favoured, experts.pointers, x, x, 2, true);
  ASSERT_EQ(jit.selected.size(), 2u);
  EXPECT_TRUE(jit.chosen.eq(3).all().item<bool>());
  EXPECT_TRUE(jit.routed.lt(3).all().item<bool>());
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(jit.predictions.equal(experts.owned[3]->forward(x).argmax(1)));
  Gate shunned = GeneralistGate(3, -100.0f);
  auto without = JitPredict(*shunned, experts.pointers, x, x, 2, true);
  EXPECT_TRUE(without.chosen.equal(without.routed));
}

TEST(MoeTest, AnchorTrainsTheGeneralistAndLeavesItsGateOutputAlone) {
  torch::manual_seed(0);
  Toy toy = MakeToy(64, 1, 1.0f);
  Gate gate = GeneralistGate(3, 0.0f);
  Experts experts = MakeExperts(4, /*classes=*/2);
  ASSERT_EQ(experts.owned.size(), 4u);
  auto generalist_before = ToWire(*experts.owned[3]);
  auto gate_before = ToWire(*gate);
  TrainOptions o;
  o.learning_rate = 0.05;
  ASSERT_TRUE(TrainAnchor(*experts.pointers[0], *gate, 0, toy.data, toy.z, o,
                          0.5, 1.0, experts.pointers[3])
                  .ok());
  EXPECT_NE(ToWire(*experts.owned[3])[0].bytes, generalist_before[0].bytes);
  auto gate_after = ToWire(*gate);
  for (size_t i = 0; i < gate_after.size(); ++i) {
    if (gate_after[i].name != "fc2.weight" && gate_after[i].name != "fc2.bias")
      continue;
    // Row 3 (the generalist's output) got no gradient from the anchor.
    const size_t row_bytes = gate_after[i].bytes.size() / 4;  // 4 outputs
    EXPECT_EQ(gate_after[i].bytes.substr(3 * row_bytes),
              gate_before[i].bytes.substr(3 * row_bytes))
        << gate_after[i].name;
    EXPECT_NE(gate_after[i].bytes, gate_before[i].bytes);
  }
}

TEST(MoeTest, MixtureTrainsTheGeneralistOnlyWhenItIsAmongTheExperts) {
  torch::manual_seed(0);
  Toy toy = MakeToy(64, 0, -1.0f);
  Gate gate = GeneralistGate(2, 0.0f);
  Experts experts = MakeExperts(3, /*classes=*/2);
  ASSERT_EQ(experts.owned.size(), 3u);
  TrainOptions o;
  MixtureExtras extras;
  extras.generalist = 2;
  EXPECT_FALSE(TrainMixture(experts.pointers, {0}, *gate, toy.data, toy.z, o,
                            0.1, extras)
                   .ok());
  auto before = ToWire(*experts.owned[2]);
  ASSERT_TRUE(TrainMixture(experts.pointers, {0, 2}, *gate, toy.data, toy.z, o,
                           0.1, extras)
                  .ok());
  EXPECT_NE(ToWire(*experts.owned[2])[0].bytes, before[0].bytes);
}

// Two classes in two clusters; class 0 belongs to expert 2, class 1 to
// expert 0 (of 3).
struct RoutingToy {
  TensorData data;
  torch::Tensor z;
  RoutingLoss routing{1.0, {2, 0}};
};

RoutingToy MakeRoutingToy() {
  Toy a = MakeToy(64, 0, -1.0f), b = MakeToy(64, 1, 1.0f);
  RoutingToy t;
  t.data.x = torch::cat({a.data.x, b.data.x});
  t.data.y = torch::cat({a.data.y, b.data.y});
  t.z = t.data.x.clone();
  return t;
}

// The routing cross-entropy (weight 1) of `gate` on the toy, and the share
// of samples whose top-1 gate choice is their class's expert.
std::pair<double, double> RoutingScore(GateImpl& gate, const RoutingToy& t) {
  torch::NoGradGuard no_grad;
  torch::Tensor logits = gate.forward(t.z);
  RoutingLoss unit = t.routing;
  unit.weight = 1.0;
  torch::Tensor target =
      torch::tensor(unit.class_experts).index_select(0, t.data.y);
  return {
      RoutingCrossEntropy(logits, t.data.y, unit).item<double>(),
      logits.argmax(1).eq(target).to(torch::kFloat64).mean().item<double>()};
}

TEST(MoeTest, RoutingLossTeachesTheGateTheClassExpertMap) {
  RoutingToy toy = MakeRoutingToy();
  TrainOptions o;
  o.learning_rate = 0.05;
  o.local_epochs = 5;
  o.batch_size = 16;
  std::map<double, std::pair<double, double>> after;
  std::pair<double, double> before;
  for (double weight : {0.0, 1.0}) {
    torch::manual_seed(0);
    Gate gate(4, 8, 3);
    Experts experts = MakeExperts(3, /*classes=*/2);
    ASSERT_EQ(experts.owned.size(), 3u);
    before = RoutingScore(*gate, toy);
    MixtureExtras extras;
    extras.routing = toy.routing;
    extras.routing.weight = weight;
    ASSERT_TRUE(TrainMixture(experts.pointers, {0, 2}, *gate, toy.data, toy.z,
                             o, 0.5, extras)
                    .ok());
    after[weight] = RoutingScore(*gate, toy);
  }
  EXPECT_LT(after[1.0].first, before.first);
  EXPECT_LT(after[1.0].first, after[0.0].first);
  EXPECT_GT(after[1.0].second, after[0.0].second);
  EXPECT_GT(after[1.0].second, 0.9);
}

// With gate_only, the mixture loss trains the experts but not the gate:
// where no class has an expert (the routing loss is 0) the gate stays as it
// was, while without gate_only the mixture loss moves it.
TEST(MoeTest, ARoutingOnlyGateLearnsNothingFromTheMixtureLoss) {
  RoutingToy toy = MakeRoutingToy();
  TrainOptions o;
  o.learning_rate = 0.05;
  o.local_epochs = 2;
  o.batch_size = 16;
  for (bool gate_only : {false, true}) {
    torch::manual_seed(0);
    Gate gate(4, 8, 3);
    Experts experts = MakeExperts(3, /*classes=*/2);
    ASSERT_EQ(experts.owned.size(), 3u);
    std::vector<torch::Tensor> gate_before, expert_before;
    for (auto& p : gate->parameters()) gate_before.push_back(p.clone());
    for (auto& p : experts.pointers[0]->parameters()) {
      expert_before.push_back(p.clone());
    }
    MixtureExtras extras;
    extras.routing = RoutingLoss{1.0, {-1, -1}, gate_only};
    ASSERT_TRUE(TrainMixture(experts.pointers, {0, 2}, *gate, toy.data, toy.z,
                             o, 0.5, extras)
                    .ok());
    bool gate_moved = false, expert_moved = false;
    auto gate_after = gate->parameters();
    for (size_t i = 0; i < gate_after.size(); ++i) {
      gate_moved |= !torch::equal(gate_after[i], gate_before[i]);
    }
    auto expert_after = experts.pointers[0]->parameters();
    for (size_t i = 0; i < expert_after.size(); ++i) {
      expert_moved |= !torch::equal(expert_after[i], expert_before[i]);
    }
    EXPECT_EQ(gate_moved, !gate_only) << "gate_only " << gate_only;
    EXPECT_TRUE(expert_moved) << "gate_only " << gate_only;
  }
}

TEST(MoeTest, ARoutingOnlyGateNeedsARoutingWeight) {
  RoutingToy toy = MakeRoutingToy();
  Gate gate(4, 8, 3);
  Experts experts = MakeExperts(3, /*classes=*/2);
  ASSERT_EQ(experts.owned.size(), 3u);
  MixtureExtras extras;
  extras.routing = RoutingLoss{0.0, {2, 0}, true};
  auto st = TrainMixture(experts.pointers, {0}, *gate, toy.data, toy.z,
                         TrainOptions{}, 0.1, extras);
  EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
}

TEST(MoeTest, RoutingCrossEntropyIgnoresClassesWithoutAnExpert) {
  torch::Tensor logits = torch::randn({4, 3});
  torch::Tensor y = torch::tensor({0, 1, 0, 1}, torch::kInt64);
  RoutingLoss none{2.0, {-1, -1}};
  EXPECT_EQ(RoutingCrossEntropy(logits, y, none).item<double>(), 0.0);
  RoutingLoss half{2.0, {1, -1}};
  torch::Tensor rows = torch::tensor({0, 2}, torch::kInt64);
  const double want =
      2.0 * torch::nn::functional::cross_entropy(
                logits.index_select(0, rows), torch::ones({2}, torch::kInt64))
                .item<double>();
  EXPECT_DOUBLE_EQ(RoutingCrossEntropy(logits, y, half).item<double>(), want);
}

TEST(MoeTest, MixtureRefusesRoutingTargetsOutsideTheSpecialists) {
  RoutingToy toy = MakeRoutingToy();
  Gate gate(4, 8, 3);
  Experts experts = MakeExperts(3, /*classes=*/2);
  ASSERT_EQ(experts.owned.size(), 3u);
  for (RoutingLoss bad : {RoutingLoss{1.0, {3, 0}}, RoutingLoss{1.0, {0}},
                          RoutingLoss{-1.0, {0, 1}}}) {
    MixtureExtras extras;
    extras.routing = bad;
    auto st = TrainMixture(experts.pointers, {0}, *gate, toy.data, toy.z,
                           TrainOptions{}, 0.1, extras);
    EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace fedjets::common
