#include "common/learn/moe_serving.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/learn/label_shift.h"
#include "tests/common/learn/toy_experts.h"

namespace fedjets::common {
namespace {

// Label shift on a known model: three classes, x ~ N(mean_j, 1) in 1-d,
// posteriors computed under a uniform prior, samples drawn with `prior`.
torch::Tensor ShiftedPosteriors(const std::vector<double>& prior, int64_t n) {
  const std::vector<double> means = {-1.5, 0.0, 1.5};
  torch::Tensor labels =
      torch::multinomial(torch::tensor(prior), n, /*replacement=*/true);
  torch::Tensor x =
      torch::tensor(means, torch::kFloat64).index_select(0, labels) +
      torch::randn({n}, torch::kFloat64);
  torch::Tensor mu = torch::tensor(means, torch::kFloat64).unsqueeze(0);
  torch::Tensor log_lik = -0.5 * (x.unsqueeze(1) - mu).pow(2);
  return torch::softmax(log_lik, /*dim=*/1);
}

TEST(MoeServingTest, EmRecoversAKnownShiftedPrior) {
  torch::manual_seed(0);
  const std::vector<double> truth = {0.7, 0.2, 0.1};
  torch::Tensor posteriors = ShiftedPosteriors(truth, 20000);
  const EmPrior em = EstimatePrior(posteriors, UniformPrior(3));
  ASSERT_EQ(em.prior.size(0), 3);
  EXPECT_NEAR(em.prior.sum().item<double>(), 1.0, 1e-9);
  EXPECT_GT(em.iterations, 1);
  const torch::Tensor mean = posteriors.mean(0);
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(em.prior[j].item<double>(), truth[j], 0.02) << "class " << j;
  }
  // The mean posterior (EM's first iterate) is pulled towards uniform.
  const torch::Tensor want = torch::tensor(truth, torch::kFloat64);
  EXPECT_LT((em.prior - want).abs().max().item<double>(),
            (mean - want).abs().max().item<double>() - 0.05);
}

TEST(MoeServingTest, EmKeepsTheTrainingPriorWhenThereIsNoShift) {
  torch::manual_seed(1);
  torch::Tensor posteriors = ShiftedPosteriors({1. / 3, 1. / 3, 1. / 3}, 20000);
  const EmPrior em = EstimatePrior(posteriors, UniformPrior(3));
  for (int j = 0; j < 3; ++j)
    EXPECT_NEAR(em.prior[j].item<double>(), 1. / 3, 0.02);
}

TEST(MoeServingTest, AdaptiveKTakesTheFewestExpertsCoveringTheMass) {
  // By prior: expert 1 (0.5), 3 (0.3), 2 (0.15), 0 (0.05).
  const torch::Tensor prior = torch::tensor({0.05, 0.5, 0.15, 0.3});
  EXPECT_EQ(ExpertsCoveringMass(prior, 0.9, 0), (std::vector<int>{1, 3, 2}));
  EXPECT_EQ(ExpertsCoveringMass(prior, 0.8, 0), (std::vector<int>{1, 3}));
  EXPECT_EQ(ExpertsCoveringMass(prior, 0.5, 0), (std::vector<int>{1}));
  EXPECT_EQ(ExpertsCoveringMass(prior, 0.1, 0), (std::vector<int>{1}));
  EXPECT_EQ(ExpertsCoveringMass(prior, 1.0, 0), (std::vector<int>{1, 3, 2, 0}));
  // The cap wins over the mass.
  EXPECT_EQ(ExpertsCoveringMass(prior, 0.9, 2), (std::vector<int>{1, 3}));
  EXPECT_EQ(ExpertsCoveringMass(prior, 0.9, 1), (std::vector<int>{1}));
  // Ties: the lower id first.
  EXPECT_EQ(
      ExpertsCoveringMass(torch::tensor({0.25, 0.25, 0.25, 0.25}), 0.5, 0),
      (std::vector<int>{0, 1}));
}

TEST(MoeServingTest, MixtureIsTheWeightedSumOfTheExpertsProbabilities) {
  torch::manual_seed(0);
  Experts experts = MakeExperts(3, /*classes=*/5);
  ASSERT_EQ(experts.owned.size(), 3u);
  torch::Tensor x = torch::randn({16, 4});
  torch::Tensor w = torch::softmax(torch::randn({16, 2}), 1);
  torch::Tensor mix = MixtureProbabilities(experts.pointers, {2, 0}, x, w);
  torch::NoGradGuard no_grad;
  torch::Tensor want = torch::softmax(experts.owned[2]->forward(x), 1) *
                           w.select(1, 0).unsqueeze(1) +
                       torch::softmax(experts.owned[0]->forward(x), 1) *
                           w.select(1, 1).unsqueeze(1);
  EXPECT_TRUE(torch::allclose(mix, want, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(mix.sum(1), torch::ones({16}), 1e-5, 1e-6));
}

TEST(MoeServingTest, SoftServingPredictsWithTheGateWeightedMixture) {
  torch::manual_seed(0);
  Gate gate(4, 8, 3);
  Experts experts = MakeExperts(3, /*classes=*/5);
  ASSERT_EQ(experts.owned.size(), 3u);
  torch::Tensor x = torch::randn({64, 4});
  ServeOptions soft;
  soft.mixture = true;
  auto jit = JitPredict(*gate, experts.pointers, x, x, 2, false, soft);
  auto hard = JitPredict(*gate, experts.pointers, x, x, 2);
  EXPECT_EQ(jit.selected, hard.selected);
  EXPECT_TRUE(jit.chosen.equal(hard.chosen));
  torch::NoGradGuard no_grad;
  torch::Tensor cols = torch::tensor(
      std::vector<int64_t>(jit.selected.begin(), jit.selected.end()));
  torch::Tensor w = torch::softmax(gate->forward(x).index_select(1, cols), 1);
  torch::Tensor want =
      MixtureProbabilities(experts.pointers, jit.selected, x, w).argmax(1);
  EXPECT_TRUE(jit.predictions.equal(want));
  // The mixture is not the hard choice on these untrained experts.
  EXPECT_FALSE(jit.predictions.equal(hard.predictions));
}

// A gate whose output q has bias `bias[q]` and no weights: every sample
// has the same posteriors softmax(bias).
Gate BiasGate(const std::vector<float>& bias) {
  Gate gate(4, 8, static_cast<int64_t>(bias.size()));
  torch::NoGradGuard no_grad;
  for (auto& p : gate->named_parameters()) {
    if (p.key() == "fc2.weight") p.value().zero_();
    if (p.key() == "fc2.bias") p.value().copy_(torch::tensor(bias));
  }
  return gate;
}

TEST(MoeServingTest, EmServingPicksTheExpertsCoveringTheMassWithoutLabels) {
  torch::manual_seed(0);
  // Posteriors softmax(log(.6, .25, .1, .05)) for every sample: EM's
  // prior sharpens towards expert 0 (identical posteriors have no
  // evidence of overlap), and 0.9 of it is covered by expert 0 alone,
  // where the mean gate softmax would need three.
  Gate gate = BiasGate(
      {std::log(0.6f), std::log(0.25f), std::log(0.1f), std::log(0.05f)});
  Experts experts = MakeExperts(4, /*classes=*/3);
  ASSERT_EQ(experts.owned.size(), 4u);
  torch::Tensor x = torch::randn({32, 4});
  auto before_gate = ToWire(*gate);
  std::vector<ParameterList> before;
  for (auto& e : experts.owned) before.push_back(ToWire(*e));
  ServeOptions em;
  em.mass = 0.9;
  EXPECT_EQ(ServingExperts(*gate, x, 2, false, em), std::vector<int>{0});
  auto jit = JitPredict(*gate, experts.pointers, x, x, 2, false, em);
  EXPECT_EQ(jit.selected, std::vector<int>{0});
  EXPECT_TRUE(jit.chosen.eq(0).all().item<bool>());
  EXPECT_EQ(ExpertsCoveringMass(MeanGateScores(*gate, x), 0.9, 0).size(), 3u);
  // No gradient step: every weight is as it was.
  auto after_gate = ToWire(*gate);
  for (size_t i = 0; i < before_gate.size(); ++i) {
    EXPECT_EQ(before_gate[i].bytes, after_gate[i].bytes);
  }
  for (size_t q = 0; q < before.size(); ++q) {
    auto after = ToWire(*experts.owned[q]);
    for (size_t i = 0; i < after.size(); ++i) {
      EXPECT_EQ(before[q][i].bytes, after[i].bytes) << "expert " << q;
    }
  }
}

TEST(MoeServingTest, EmCorrectsEachSamplesScoresByTheClientsPrior) {
  torch::manual_seed(0);
  // Half the samples lean slightly to expert 1, half strongly to expert 0:
  // the prior favours expert 0, and the correction moves the undecided
  // half there too.
  Gate gate(4, 8, 2);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : gate->named_parameters()) {
      if (p.key() == "fc1.weight") {
        p.value().zero_();
        p.value()[0][0] = 1;  // hidden 0 = relu(z0)
      }
      if (p.key() == "fc1.bias") p.value().zero_();
      if (p.key() == "fc2.weight") {
        p.value().zero_();
        p.value()[0][0] = 1;  // expert 0's logit = relu(z0)
      }
      if (p.key() == "fc2.bias") p.value().copy_(torch::tensor({0.0f, 0.2f}));
    }
  }
  torch::Tensor z = torch::zeros({40, 4});
  z.slice(0, 0, 20).select(1, 0).fill_(4.0f);
  Experts experts = MakeExperts(2, /*classes=*/3);
  ASSERT_EQ(experts.owned.size(), 2u);
  auto plain = JitPredict(*gate, experts.pointers, z, z, 2);
  EXPECT_TRUE(plain.chosen.slice(0, 20).eq(1).all().item<bool>());
  ServeOptions em;
  em.mass = 1.0;
  auto corrected = JitPredict(*gate, experts.pointers, z, z, 2, false, em);
  ASSERT_EQ(corrected.selected.size(), 2u);
  EXPECT_TRUE(corrected.chosen.eq(0).all().item<bool>());
}

// --serve-label-shift for FedJETs: the experts' choice is unchanged, and
// the served class probabilities (the chosen expert's, or the mixture's)
// get the same class-prior EM as FedAvg's baseline.
TEST(MoeServingTest, LabelShiftCorrectsTheServedClassProbabilities) {
  torch::manual_seed(0);
  Gate gate(4, 8, 3);
  Experts experts = MakeExperts(3, /*classes=*/5);
  ASSERT_EQ(experts.owned.size(), 3u);
  torch::Tensor x = torch::randn({64, 4});
  torch::NoGradGuard no_grad;
  for (bool mixture : {false, true}) {
    ServeOptions plain;
    plain.mixture = mixture;
    ServeOptions shifted = plain;
    shifted.label_shift = true;
    auto a = JitPredict(*gate, experts.pointers, x, x, 2, false, plain);
    auto b = JitPredict(*gate, experts.pointers, x, x, 2, false, shifted);
    EXPECT_EQ(a.selected, b.selected);
    EXPECT_TRUE(a.chosen.equal(b.chosen));
    torch::Tensor probs;
    if (mixture) {
      torch::Tensor cols = torch::tensor(
          std::vector<int64_t>(b.selected.begin(), b.selected.end()));
      torch::Tensor w =
          torch::softmax(gate->forward(x).index_select(1, cols), 1);
      probs = MixtureProbabilities(experts.pointers, b.selected, x, w);
    } else {
      std::vector<torch::Tensor> rows;
      for (int64_t i = 0; i < x.size(0); ++i) {
        const int64_t q = b.chosen[i].item<int64_t>();
        rows.push_back(
            torch::softmax(experts.owned[q]->forward(x.slice(0, i, i + 1)), 1));
      }
      probs = torch::cat(rows);
    }
    torch::Tensor want = LabelShiftPredictions(torch::log(probs));
    EXPECT_TRUE(b.predictions.equal(want)) << "mixture " << mixture;
    // These untrained experts favour some classes: the correction moves
    // some predictions.
    EXPECT_FALSE(b.predictions.equal(a.predictions)) << "mixture " << mixture;
  }
}

// FedAvg's baseline: the same EM over classes. The samples are near the
// boundary of classes 0 and 1, leaning to 1, but most of the client's
// samples are surely 0: the correction moves the undecided ones to 0.
TEST(LabelShiftTest, PredictionsFollowTheClientsEstimatedClassPrior) {
  torch::Tensor logits = torch::zeros({40, 3});
  logits.slice(0, 0, 30).select(1, 0).fill_(5.0f);
  logits.slice(0, 30).select(1, 1).fill_(0.2f);
  torch::Tensor plain = logits.argmax(1);
  EXPECT_TRUE(plain.slice(0, 30).eq(1).all().item<bool>());
  torch::Tensor corrected = LabelShiftPredictions(logits);
  EXPECT_TRUE(corrected.eq(0).all().item<bool>());
  // With no shift (every class equally likely) nothing moves.
  torch::Tensor balanced = torch::eye(3).repeat({5, 1}) * 2.0;
  EXPECT_TRUE(LabelShiftPredictions(balanced).equal(balanced.argmax(1)));
}

}  // namespace
}  // namespace fedjets::common
