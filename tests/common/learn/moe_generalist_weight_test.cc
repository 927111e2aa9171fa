// The generalist expert's fixed mixture weight (--generalist-weight, issue
// #14): the mixture is (1 - W) x the gate's mixture of the specialists plus
// W x the generalist, in training and serving, and the gate gets no
// gradient through the generalist's share.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/learn/moe.h"
#include "common/learn/moe_serving.h"
#include "tests/common/learn/toy_experts.h"

namespace fedjets::common {
namespace {

torch::Tensor Columns(const torch::Tensor& t, std::vector<int64_t> cols) {
  return t.index_select(1, torch::tensor(cols));
}

TEST(GeneralistWeightTest, TheGeneralistsColumnIsWAndTheRestShareOneMinusW) {
  torch::manual_seed(0);
  torch::Tensor logits = torch::randn({6, 4});  // 3 specialists, then it
  const double w = 0.3;
  // The generalist (3) between two specialists: the columns follow `ids`.
  torch::Tensor mix = MixtureWeights(logits, {2, 3, 0}, 3, w);
  ASSERT_EQ(mix.sizes(), (std::vector<int64_t>{6, 3}));
  EXPECT_TRUE(mix.select(1, 1).eq(static_cast<float>(w)).all().item<bool>());
  EXPECT_TRUE(Columns(mix, {0, 2})
                  .equal((1 - w) * torch::softmax(Columns(logits, {2, 0}), 1)));
  EXPECT_TRUE(torch::allclose(mix.sum(1), torch::ones({6})));
  // Off: the softmax over every id, the generalist included.
  EXPECT_TRUE(MixtureWeights(logits, {2, 3, 0}, 3, kGateWeighsGeneralist)
                  .equal(torch::softmax(Columns(logits, {2, 3, 0}), 1)));
  // The generalist alone takes the whole mixture.
  EXPECT_TRUE(MixtureWeights(logits, {3}, 3, w).equal(torch::ones({6, 1})));
}

TEST(GeneralistWeightTest, MixtureIsWTimesTheGeneralistPlusTheRestByTheGate) {
  torch::manual_seed(0);
  Experts experts = MakeExperts(3, /*classes=*/5);  // 2 + the generalist
  ASSERT_EQ(experts.owned.size(), 3u);
  torch::Tensor x = torch::randn({16, 4});
  const double w = 0.4;
  // However much the gate favours the generalist, its share stays W.
  for (float bias : {-100.0f, 0.0f, 100.0f}) {
    Gate gate = GeneralistGate(2, bias);
    torch::NoGradGuard no_grad;
    torch::Tensor logits = gate->forward(x);
    torch::Tensor mix =
        MixtureProbabilities(experts.pointers, {0, 1, 2}, x,
                             MixtureWeights(logits, {0, 1, 2}, 2, w));
    torch::Tensor specialists =
        MixtureProbabilities(experts.pointers, {0, 1}, x,
                             torch::softmax(Columns(logits, {0, 1}), 1));
    torch::Tensor generalist = torch::softmax(experts.owned[2]->forward(x), 1);
    EXPECT_TRUE(torch::allclose(mix, (1 - w) * specialists + w * generalist,
                                /*rtol=*/1e-6, /*atol=*/1e-7))
        << bias;
  }
}

// The mixture's negative log-likelihood of `y` with the given weights over
// fixed class probabilities `p` [K][B, C].
torch::Tensor MixtureLoss(const torch::Tensor& weights,
                          const std::vector<torch::Tensor>& p,
                          const torch::Tensor& y) {
  torch::Tensor mix;
  for (size_t k = 0; k < p.size(); ++k) {
    torch::Tensor part =
        p[k] * weights.select(1, static_cast<int64_t>(k)).unsqueeze(1);
    mix = mix.defined() ? mix + part : part;
  }
  return torch::nn::functional::nll_loss(torch::log(mix), y);
}

TEST(GeneralistWeightTest, TheGateGetsNoGradientThroughTheGeneralist) {
  torch::manual_seed(0);
  std::vector<torch::Tensor> p;
  for (int k = 0; k < 3; ++k)
    p.push_back(torch::softmax(torch::randn({8, 5}), 1));
  torch::Tensor y = torch::randint(5, {8}, torch::kInt64);
  for (double w : {kGateWeighsGeneralist, 0.3}) {
    torch::Tensor logits = torch::randn({8, 3}).requires_grad_();
    MixtureLoss(MixtureWeights(logits, {0, 1, 2}, 2, w), p, y).backward();
    const torch::Tensor grad = logits.grad();
    EXPECT_TRUE(grad.narrow(1, 0, 2).ne(0).any().item<bool>()) << w;
    // The generalist's logit gets a gradient only when the gate weighs it.
    EXPECT_EQ(grad.select(1, 2).eq(0).all().item<bool>(),
              w != kGateWeighsGeneralist)
        << w;
  }
}

// The bytes of the gate's output row `row` (of `rows`) in fc2's weight and
// bias.
std::vector<std::string> GateRow(GateImpl& gate, int row, int rows) {
  std::vector<std::string> out;
  for (const auto& t : ToWire(gate)) {
    if (t.name != "fc2.weight" && t.name != "fc2.bias") continue;
    const size_t row_bytes = t.bytes.size() / rows;
    out.push_back(t.bytes.substr(row * row_bytes, row_bytes));
  }
  return out;
}

TEST(GeneralistWeightTest, MixtureTrainingLeavesTheGatesGeneralistOutputAlone) {
  TrainOptions o;
  o.learning_rate = 0.05;
  o.batch_size = 16;
  for (double w : {kGateWeighsGeneralist, 0.3}) {
    torch::manual_seed(0);
    TensorData data{torch::randn({64, 4}),
                    torch::randint(2, {64}, torch::kInt64)};
    Gate gate = GeneralistGate(2, 0.0f);
    Experts experts = MakeExperts(3, /*classes=*/2);
    ASSERT_EQ(experts.owned.size(), 3u);
    const auto generalist_row = GateRow(*gate, 2, 3);
    const auto specialist_row = GateRow(*gate, 0, 3);
    const auto specialist = ToWire(*experts.owned[0]);
    MixtureExtras extras;
    extras.generalist = 2;
    extras.generalist_weight = w;
    ASSERT_TRUE(TrainMixture(experts.pointers, {0, 1, 2}, *gate, data, data.x,
                             o, 0.5, extras)
                    .ok());
    EXPECT_EQ(GateRow(*gate, 2, 3) == generalist_row,
              w != kGateWeighsGeneralist)
        << w;
    EXPECT_NE(GateRow(*gate, 0, 3), specialist_row) << w;
    EXPECT_NE(ToWire(*experts.owned[0])[0].bytes, specialist[0].bytes) << w;
  }
}

TEST(GeneralistWeightTest,
     MixtureRefusesAWeightOutsideZeroToOneOrNoGeneralist) {
  TensorData data{torch::randn({8, 4}), torch::randint(2, {8}, torch::kInt64)};
  Gate gate = GeneralistGate(2, 0.0f);
  Experts experts = MakeExperts(3, /*classes=*/2);
  ASSERT_EQ(experts.owned.size(), 3u);
  struct Case {
    double weight;
    int generalist;
  };
  // Out of [0, 1), or a weight without a generalist.
  for (Case c :
       {Case{1.0, 2}, Case{-0.5, 2}, Case{std::nan(""), 2}, Case{0.3, -1}}) {
    MixtureExtras extras;
    extras.generalist = c.generalist;
    extras.generalist_weight = c.weight;
    auto st = TrainMixture(experts.pointers, {0, 1, 2}, *gate, data, data.x,
                           TrainOptions{}, 0.1, extras);
    EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument) << c.weight;
    EXPECT_NE(st.status().message().find("generalist weight"),
              std::string::npos)
        << st.status().ToString();
  }
}

TEST(GeneralistWeightTest, ServingWeighsTheGeneralistAsTrainingDoes) {
  torch::manual_seed(0);
  Experts experts = MakeExperts(4, /*classes=*/5);  // 3 + the generalist
  ASSERT_EQ(experts.owned.size(), 4u);
  torch::Tensor x = torch::randn({64, 4});
  // The gate favours the generalist; its weight decides instead.
  Gate gate = GeneralistGate(3, 100.0f);
  ServeOptions serve;
  // 0.2 < 0.8 x (a best share of 2 specialists >= 1/2): never the
  // generalist; 0.9 > 0.1 x any share: always.
  serve.generalist_weight = 0.2;
  auto low = JitPredict(*gate, experts.pointers, x, x, 2, true, serve);
  EXPECT_TRUE(low.chosen.equal(low.routed));
  serve.generalist_weight = 0.9;
  auto high = JitPredict(*gate, experts.pointers, x, x, 2, true, serve);
  EXPECT_TRUE(high.chosen.eq(3).all().item<bool>());
  EXPECT_TRUE(high.routed.lt(3).all().item<bool>());
  // Soft: (1 - W) x the gate's mixture of the selected + W x generalist.
  serve.mixture = true;
  serve.generalist_weight = 0.4;
  auto soft = JitPredict(*gate, experts.pointers, x, x, 2, true, serve);
  torch::NoGradGuard no_grad;
  const std::vector<int> selected = soft.selected;
  torch::Tensor logits = gate->forward(x);
  torch::Tensor specialists = MixtureProbabilities(
      experts.pointers, selected, x,
      torch::softmax(Columns(logits, {selected[0], selected[1]}), 1));
  torch::Tensor want =
      0.6 * specialists + 0.4 * torch::softmax(experts.owned[3]->forward(x), 1);
  EXPECT_TRUE(soft.predictions.equal(want.argmax(1)));
}

}  // namespace
}  // namespace fedjets::common
