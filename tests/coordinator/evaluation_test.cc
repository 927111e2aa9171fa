// The coordinator's evaluation references (the centrally trained gate, the
// fine-tuning baselines and how they report a failure) and the common
// expert's sources (pretraining with a cache, a saved file).
#include "coordinator/evaluation.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "coordinator/common_expert.h"
#include "tests/coordinator/blobs.h"

namespace fedjets::coordinator {
namespace {

TEST(ReferenceGateTest, RoutesEachClassToTheExpertWhoseAnchorHoldsIt) {
  torch::manual_seed(0);
  const common::ModelSpec spec{"mlp", {8}, 4, 16};
  common::Dataset train = Blobs(200, 1);
  auto c = PretrainCommonExpert(spec, train, train.size(), 2, 1);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::vector<std::vector<int64_t>> anchors = {{0, 3}, {1, 2}};
  auto gate = TrainReferenceGate(**c, train, anchors, 16, /*epochs=*/60, 1);
  ASSERT_TRUE(gate.ok()) << gate.status().ToString();

  common::TensorData test = common::ToTensors(Blobs(50, 2));
  torch::NoGradGuard no_grad;
  torch::Tensor routed =
      (*gate)->forward(common::EmbedAll(**c, test.x)).argmax(1);
  torch::Tensor owner = torch::tensor(std::vector<int64_t>{0, 1, 1, 0});
  const double correct = routed.eq(owner.index_select(0, test.y))
                             .to(torch::kFloat64)
                             .mean()
                             .item<double>();
  EXPECT_GT(correct, 0.95);
}

TEST(ReferenceGateTest, NeedsAnchorsWhoseClassesHaveExamples) {
  const common::ModelSpec spec{"mlp", {8}, 4, 16};
  common::Dataset train = Blobs(10, 1);
  auto c = common::MakeClassifier(spec, 1);
  ASSERT_TRUE(c.ok());
  auto none = TrainReferenceGate(**c, train, {}, 16, 1, 1);
  EXPECT_FALSE(none.ok());
  common::Dataset only_class_0 = train;
  only_class_0.labels.assign(train.labels.size(), 0);
  auto empty = TrainReferenceGate(**c, only_class_0, {{1}, {2}}, 16, 1, 1);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().ToString().find("no anchor class has examples"),
            std::string::npos);
}

namespace fs = std::filesystem;

std::vector<fs::path> Files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

TEST(CommonExpertCacheTest,
     SecondRunLoadsTheSameWeightsAndBadFilesAreRetrained) {
  const fs::path dir =
      fs::temp_directory_path() /
      ("fedjets-ce-cache-" + std::to_string(std::random_device{}()));
  const common::ModelSpec spec{"mlp", {8}, 4, 16};
  common::Dataset train = Blobs(50, 1);
  auto first = PretrainCommonExpert(spec, train, 100, 1, 7, dir.string());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(Files(dir).size(), 1u);
  const fs::path file = Files(dir)[0];

  // Same data, spec, budget and seed: the cached weights, byte for byte.
  auto second = PretrainCommonExpert(spec, train, 100, 1, 7, dir.string());
  ASSERT_TRUE(second.ok());
  auto a = common::ToWire(**first), b = common::ToWire(**second);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].bytes, b[i].bytes) << a[i].name;

  // Another seed or other examples: another entry.
  ASSERT_TRUE(PretrainCommonExpert(spec, train, 100, 1, 8, dir.string()).ok());
  ASSERT_TRUE(PretrainCommonExpert(spec, train, 120, 1, 7, dir.string()).ok());
  EXPECT_EQ(Files(dir).size(), 3u);

  // A damaged entry is retrained (same result) and replaced, not fatal.
  std::ofstream(file, std::ios::trunc) << "not a model";
  auto again = PretrainCommonExpert(spec, train, 100, 1, 7, dir.string());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto c = common::ToWire(**again);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].bytes, c[i].bytes) << a[i].name;
  EXPECT_GT(fs::file_size(file), 100u);
  fs::remove_all(dir);
}

TEST(CommonExpertSourceTest, ParsesEveryForm) {
  auto none = ParseCommonExpert("none");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->none());
  auto weak = ParseCommonExpert("weak");
  ASSERT_TRUE(weak.ok());
  EXPECT_EQ(weak->examples, 3000);
  EXPECT_EQ(weak->epochs, 3);
  auto budget = ParseCommonExpert("examples:500:epochs:2");
  ASSERT_TRUE(budget.ok());
  EXPECT_EQ(budget->examples, 500);
  EXPECT_EQ(budget->epochs, 2);
  auto file = ParseCommonExpert("file:/runs/a/model.pt");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->file, "/runs/a/model.pt");
  EXPECT_FALSE(file->none());
  for (const char* bad :
       {"file:", "medium", "examples:0:epochs:2", "fedavg:5"}) {
    auto r = ParseCommonExpert(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos)
        << r.status().ToString();
  }
  // fedavg:R is fedjets-sim's: the error says where to get it.
  EXPECT_NE(
      ParseCommonExpert("fedavg:5").status().message().find("fedjets-sim"),
      std::string::npos);
}

TEST(CommonExpertSourceTest, LoadsASavedModelAndNamesAFileThatDoesNotFit) {
  const fs::path dir =
      fs::temp_directory_path() /
      ("fedjets-ce-file-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  const common::ModelSpec spec{"mlp", {8}, 4, 16};
  auto saved = common::MakeClassifier(spec, 3);
  ASSERT_TRUE(saved.ok());
  const std::string path = (dir / "model.pt").string();
  torch::save(*saved, path);

  auto loaded = LoadCommonExpert(spec, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto a = common::ToWire(**saved), b = common::ToWire(**loaded);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].bytes, b[i].bytes) << a[i].name;

  // Another architecture, a damaged file, no file: one clear error each.
  const common::ModelSpec wider{"mlp", {8}, 4, 32};
  auto wrong = LoadCommonExpert(wider, path);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find(path), std::string::npos);
  EXPECT_NE(wrong.status().message().find("32 hidden units"), std::string::npos)
      << wrong.status().ToString();
  std::ofstream(dir / "bad.pt") << "not a model";
  EXPECT_FALSE(LoadCommonExpert(spec, (dir / "bad.pt").string()).ok());
  auto missing = LoadCommonExpert(spec, (dir / "none.pt").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no such file"), std::string::npos);
  fs::remove_all(dir);
}

// An evaluation client with `per_class` test and training examples of each
// blob class.
EvalClient BlobClient(const std::string& name, int per_class) {
  EvalClient c;
  c.name = name;
  c.test = common::ToTensors(Blobs(per_class, 3));
  c.train = common::ToTensors(Blobs(per_class, 4));
  return c;
}

TEST(FineTunedTest, TrainsACopyAndLeavesTheModelUnchanged) {
  const common::ModelSpec spec{"mlp", {8}, 4, 16};
  auto model = common::MakeClassifier(spec, 1);
  ASSERT_TRUE(model.ok());
  const common::ParameterList before = common::ToWire(**model);
  auto tuned = FineTuned(**model, spec, BlobClient("c0", 20), 1, 1);
  ASSERT_TRUE(tuned.ok()) << tuned.status().ToString();
  EXPECT_NE(common::ToWire(**tuned)[0].bytes, before[0].bytes);
  EXPECT_EQ(common::ToWire(**model)[0].bytes, before[0].bytes);
}

TEST(FineTunedTest, NamesTheClientWhenItCannotTrain) {
  const common::ModelSpec spec{"mlp", {8}, 4, 16};
  auto model = common::MakeClassifier(spec, 1);
  ASSERT_TRUE(model.ok());
  EvalClient empty = BlobClient("eval-7", 5);
  empty.train = {};
  auto no_data = FineTuned(**model, spec, empty, 1, 1);
  ASSERT_FALSE(no_data.ok());
  EXPECT_NE(no_data.status().message().find("'eval-7'"), std::string::npos)
      << no_data.status().ToString();
  EXPECT_NE(no_data.status().message().find("no examples"), std::string::npos)
      << no_data.status().ToString();
  EXPECT_FALSE(FineTuned(**model, spec, BlobClient("c", 5), 0, 1).ok());
  // A spec other than the model's: not copied by position.
  const common::ModelSpec wider{"mlp", {8}, 4, 32};
  EXPECT_FALSE(FineTuned(**model, wider, BlobClient("c", 5), 1, 1).ok());
}

// Blobs whose first feature is the example's index (negated, minus one,
// for the test split), so that a client's examples say where they came
// from.
common::Dataset Numbered(common::Dataset d, bool test) {
  for (int64_t i = 0; i < d.size(); ++i) {
    d.features[i * d.ExampleSize()] = test ? -1.f - i : static_cast<float>(i);
  }
  return d;
}

TEST(BuildEvalClientsTest, ValidationClientsDrawOnlyFromTheValidationSlice) {
  const common::TrainTest data{Numbered(Blobs(100, 1), false),
                               Numbered(Blobs(50, 2), true)};
  common::SplitOptions o;
  o.partition = "iid";
  o.num_clients = 4;
  o.num_experts = 0;
  o.validation_fraction = 0.2;
  o.num_validation_eval = 2;
  auto split = common::MakeFederationSplit(data.train.labels, 4, o);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  const std::set<int64_t> slice(split->validation_indices.begin(),
                                split->validation_indices.end());
  const auto clients = BuildEvalClients(data, *split, 40, 1);
  int validation = 0;
  for (const auto& c : clients) {
    ASSERT_GT(c.test.x.size(0), 0) << c.name;
    auto first = c.test.x.select(1, 0).contiguous();
    for (int64_t j = 0; j < first.size(0); ++j) {
      const float id = first[j].item<float>();
      if (c.kind == common::EvalClientKind::kValidation) {
        EXPECT_TRUE(slice.count(static_cast<int64_t>(id)))
            << c.name << " holds training example " << id
            << ", outside the validation slice";
      } else {
        EXPECT_LT(id, 0) << c.name << " is scored on the test split";
      }
    }
    if (c.kind == common::EvalClientKind::kValidation) {
      ++validation;
      EXPECT_EQ(c.test.x.size(0), 40) << c.name;
      EXPECT_EQ(c.train.size(), 0) << c.name << " has no fine-tuning data";
    }
  }
  EXPECT_EQ(validation, 2);
}

TEST(ScoreReferenceTest, AveragesSeenAndUnseenClients) {
  std::vector<EvalClient> clients = {BlobClient("a", 5), BlobClient("b", 5)};
  clients[1].kind = common::EvalClientKind::kUnseen;
  SplitAccuracy s = ScoreReference(clients, [](const EvalClient& c) {
    return c.kind == common::EvalClientKind::kUnseen
               ? torch::zeros_like(c.test.y)
               : c.test.y.clone();
  });
  ASSERT_TRUE(s.seen && s.unseen);
  EXPECT_DOUBLE_EQ(*s.seen, 1.0);
  EXPECT_DOUBLE_EQ(*s.unseen, 0.25);
  EXPECT_FALSE(s.validation);
  EXPECT_FALSE(s.error);
}

// Reference methods are not tuned: validation clients are left out of
// them (and have no fine-tuning data).
TEST(ScoreReferenceTest, LeavesValidationClientsOut) {
  std::vector<EvalClient> clients = {BlobClient("a", 5), BlobClient("v", 5)};
  clients[1].kind = common::EvalClientKind::kValidation;
  std::vector<std::string> scored;
  SplitAccuracy s = ScoreReference(clients, [&](const EvalClient& c) {
    scored.push_back(c.name);
    return c.test.y.clone();
  });
  EXPECT_EQ(scored, std::vector<std::string>{"a"});
  EXPECT_TRUE(s.seen);
  EXPECT_FALSE(s.validation);
}

TEST(ScoreClientsTest, AveragesValidationClientsApart) {
  std::vector<EvalClient> clients = {BlobClient("a", 5), BlobClient("u", 5),
                                     BlobClient("v", 5)};
  clients[1].kind = common::EvalClientKind::kUnseen;
  clients[2].kind = common::EvalClientKind::kValidation;
  ClientScores s =
      ScoreClients(clients, [](const EvalClient& c, ClientAccuracy&) {
        return c.kind == common::EvalClientKind::kValidation
                   ? torch::zeros_like(c.test.y)
                   : c.test.y.clone();
      });
  ASSERT_TRUE(s.accuracy.seen && s.accuracy.unseen && s.accuracy.validation);
  EXPECT_DOUBLE_EQ(*s.accuracy.unseen, 1.0);
  EXPECT_DOUBLE_EQ(*s.accuracy.validation, 0.25);
  ASSERT_EQ(s.clients.size(), 3u);
  EXPECT_EQ(s.clients[2].kind, common::EvalClientKind::kValidation);
}

TEST(ScoreReferenceTest, ReportsTheErrorInsteadOfAnAccuracy) {
  const std::vector<EvalClient> clients = {BlobClient("a", 5),
                                           BlobClient("b", 5)};
  SplitAccuracy s = ScoreReference(
      clients, [](const EvalClient& c) -> common::Result<torch::Tensor> {
        if (c.name == "b") return common::FailedPrecondition("b failed");
        return c.test.y.clone();
      });
  SplitAccuracy want;
  want.error = "b failed";
  EXPECT_EQ(s, want);
}

// --finetune-epochs 0 cannot fine-tune: the baselines say so instead of
// scoring the model that was never fine-tuned.
TEST(ScoreFineTunedTest, ReportsAFailedFineTuningInsteadOfAnAccuracy) {
  const common::ModelSpec spec{"mlp", {8}, 4, 16};
  auto model = common::MakeClassifier(spec, 1);
  ASSERT_TRUE(model.ok());
  const std::vector<EvalClient> clients = {BlobClient("eval-0", 5)};
  SplitAccuracy ok = ScoreFineTuned(clients, **model, spec, 1, 1);
  EXPECT_TRUE(ok.seen);
  EXPECT_FALSE(ok.error);
  SplitAccuracy failed =
      ScoreFineTuned(clients, **model, spec, /*epochs=*/0, 1);
  EXPECT_FALSE(failed.seen);
  ASSERT_TRUE(failed.error);
  EXPECT_NE(failed.error->find("'eval-0'"), std::string::npos) << *failed.error;
}

}  // namespace
}  // namespace fedjets::coordinator
