#include "common/learn/moe.h"

#include <gtest/gtest.h>

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

// `n` MLP experts over 4 features, expert q seeded with q; `pointers`
// views `owned`.
struct Experts {
  std::vector<Classifier> owned;
  std::vector<ClassifierImpl*> pointers;
};

Experts MakeExperts(int n, int64_t classes) {
  Experts e;
  for (int q = 0; q < n; ++q) {
    auto c = MakeClassifier({"mlp", {4}, classes, 8}, q);
    if (!c.ok()) {
      ADD_FAILURE() << c.status().ToString();
      break;
    }
    e.owned.push_back(*c);
    e.pointers.push_back(e.owned.back().get());
  }
  return e;
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

}  // namespace
}  // namespace fedjets::common
