#include "common/learn/model.h"

#include <gtest/gtest.h>

#include "common/learn/training.h"

namespace fedjets::common {
namespace {

ModelSpec ImageSpec() { return {"auto", {1, 28, 28}, 10, 32}; }

TEST(ModelTest, AutoPicksCnnForImagesAndMlpForFlatFeatures) {
  auto cnn = MakeClassifier(ImageSpec(), 1);
  ASSERT_TRUE(cnn.ok());
  EXPECT_NE(dynamic_cast<CnnImpl*>(cnn->get()), nullptr);
  auto mlp = MakeClassifier({"auto", {12}, 3, 16}, 1);
  ASSERT_TRUE(mlp.ok());
  EXPECT_NE(dynamic_cast<MlpImpl*>(mlp->get()), nullptr);
  auto out = (*mlp)->forward(torch::zeros({5, 12}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ((*mlp)->Embed(torch::zeros({5, 12})).size(1), 16);
}

TEST(ModelTest, RejectsUnknownFamilyAndBadShapes) {
  EXPECT_FALSE(MakeClassifier({"resnet", {1, 28, 28}, 10, 32}, 1).ok());
  EXPECT_FALSE(MakeClassifier({"cnn", {12}, 10, 32}, 1).ok());
  EXPECT_FALSE(MakeClassifier({"auto", {12}, 1, 32}, 1).ok());
}

TEST(ModelTest, SameSeedGivesSameWeights) {
  auto a = MakeClassifier(ImageSpec(), 7);
  auto b = MakeClassifier(ImageSpec(), 7);
  auto c = MakeClassifier(ImageSpec(), 8);
  auto wa = ToWire(**a), wb = ToWire(**b), wc = ToWire(**c);
  EXPECT_EQ(wa[0].bytes, wb[0].bytes);
  EXPECT_NE(wa[0].bytes, wc[0].bytes);
}

TEST(ModelTest, WireRoundTripCopiesWeights) {
  auto a = MakeClassifier(ImageSpec(), 1);
  auto b = MakeClassifier(ImageSpec(), 2);
  ASSERT_TRUE(FromWire(**b, ToWire(**a)).ok());
  auto wa = ToWire(**a), wb = ToWire(**b);
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_EQ(wa[i].bytes, wb[i].bytes);
}

TEST(ModelTest, CopyWeightsCopiesEveryParameter) {
  auto a = MakeClassifier(ImageSpec(), 1);
  auto b = MakeClassifier(ImageSpec(), 2);
  ASSERT_TRUE(CopyWeights(**a, **b).ok());
  auto wa = ToWire(**a), wb = ToWire(**b);
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_EQ(wa[i].bytes, wb[i].bytes);
}

// fc1.weight [16, 1] would broadcast into [16, 4] if copied by position.
TEST(ModelTest, CopyWeightsRejectsOtherShapesAndLeavesTargetUnchanged) {
  auto narrow = MakeClassifier({"mlp", {1}, 2, 16}, 1);
  auto wide = MakeClassifier({"mlp", {4}, 2, 16}, 2);
  const ParameterList before = ToWire(**wide);
  Status st = CopyWeights(**narrow, **wide);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("fc1.weight"), std::string::npos) << st.message();
  auto after = ToWire(**wide);
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].bytes, after[i].bytes) << before[i].name;
  }
  auto cnn = MakeClassifier(ImageSpec(), 1);
  EXPECT_FALSE(CopyWeights(**cnn, **wide).ok());
}

TEST(ModelTest, FromWireRejectsWrongShapeAndLeavesModelUnchanged) {
  auto a = MakeClassifier(ImageSpec(), 1);
  auto before = ToWire(**a);
  auto other = MakeClassifier({"auto", {1, 28, 28}, 5, 32}, 1);
  Status st = FromWire(**a, ToWire(**other));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("out.weight"), std::string::npos) << st.message();
  auto after = ToWire(**a);
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].bytes, after[i].bytes);
  }
}

TEST(TrainingTest, LocalTrainingLearnsASeparableProblem) {
  torch::manual_seed(0);
  TensorData data;
  data.x = torch::randn({512, 4});
  data.y = (data.x.select(1, 0) > 0).to(torch::kInt64);
  auto model = MakeClassifier({"mlp", {4}, 2, 16}, 3);
  ASSERT_TRUE(model.ok());
  EvalStats before = Evaluate(**model, data);
  TrainOptions o;
  o.local_epochs = 5;
  o.batch_size = 32;
  o.learning_rate = 0.05;
  auto stats = TrainLocal(**model, data, o);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->examples_seen, 5 * 512);
  EvalStats after = Evaluate(**model, data);
  EXPECT_GT(after.accuracy, 0.9);
  EXPECT_LT(after.loss, before.loss);
}

TEST(TrainingTest, ProximalTermKeepsWeightsCloserToStart) {
  torch::manual_seed(0);
  TensorData data;
  data.x = torch::randn({256, 4});
  data.y = (data.x.select(1, 1) > 0).to(torch::kInt64);
  auto distance = [&](double mu) {
    auto model = MakeClassifier({"mlp", {4}, 2, 16}, 3);
    auto start = ToWire(**model);
    TrainOptions o;
    o.local_epochs = 3;
    o.learning_rate = 0.05;
    o.prox_mu = mu;
    EXPECT_TRUE(TrainLocal(**model, data, o).ok());
    double d = 0;
    auto end = ToWire(**model);
    for (size_t i = 0; i < end.size(); ++i) {
      auto* a = reinterpret_cast<const float*>(start[i].bytes.data());
      auto* b = reinterpret_cast<const float*>(end[i].bytes.data());
      for (int64_t j = 0; j < end[i].NumElements(); ++j) {
        d += (a[j] - b[j]) * (a[j] - b[j]);
      }
    }
    return d;
  };
  EXPECT_LT(distance(10.0), distance(0.0));
}

TEST(TrainingTest, TrainingWithoutDataIsAnError) {
  auto model = MakeClassifier({"mlp", {4}, 2, 16}, 3);
  EXPECT_EQ(TrainLocal(**model, TensorData{}, TrainOptions{}).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fedjets::common
