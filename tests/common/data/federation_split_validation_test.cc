// Validation clients cut from the training split (SplitOptions::
// validation_fraction, issue #14's honest tuning).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "common/data/federation_split.h"

namespace fedjets::common {
namespace {

using ClassSet = std::vector<int64_t>;

std::vector<int64_t> Labels(int64_t per_class, int64_t classes) {
  std::vector<int64_t> y;
  for (int64_t i = 0; i < per_class * classes; ++i) y.push_back(i % classes);
  return y;
}

ClassSet Support(const std::vector<double>& w) {
  ClassSet s;
  for (size_t c = 0; c < w.size(); ++c) {
    if (w[c] > 0) s.push_back(static_cast<int64_t>(c));
  }
  return s;
}

std::vector<const EvalClientSpec*> OfKind(const FederationSplit& split,
                                          EvalClientKind kind) {
  std::vector<const EvalClientSpec*> out;
  for (const auto& e : split.eval_clients) {
    if (e.kind == kind) out.push_back(&e);
  }
  return out;
}

class ValidationSplitTest : public ::testing::Test {
 protected:
  SplitOptions Options(const std::string& partition) const {
    SplitOptions o;
    o.partition = partition;
    o.num_clients = 20;
    o.num_experts = partition.starts_with("classes") ? 0 : 5;
    o.seed = 7;
    o.validation_fraction = 0.1;
    o.num_validation_eval = 4;
    return o;
  }
  std::vector<int64_t> labels_ = Labels(200, 10);
};

TEST_F(ValidationSplitTest, SliceIsStratifiedAndDisjointFromEveryClient) {
  for (const char* partition :
       {"grouped", "grouped-random", "dirichlet:0.3", "iid", "classes:3"}) {
    auto split = MakeFederationSplit(labels_, 10, Options(partition));
    ASSERT_TRUE(split.ok()) << partition << ": " << split.status().ToString();
    const auto& slice = split->validation_indices;
    ASSERT_TRUE(std::is_sorted(slice.begin(), slice.end())) << partition;
    std::vector<int> per_class(10, 0);
    std::set<int64_t> in_slice;
    for (int64_t i : slice) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, static_cast<int64_t>(labels_.size()))
          << "validation examples come from the training split";
      ++per_class[labels_[i]];
      EXPECT_TRUE(in_slice.insert(i).second) << partition << ": twice " << i;
    }
    for (int c = 0; c < 10; ++c) {
      EXPECT_EQ(per_class[c], 20) << partition << ": 10% of class " << c;
    }
    for (size_t k = 0; k < split->clients.size(); ++k) {
      EXPECT_FALSE(split->clients[k].indices.empty()) << partition;
      for (int64_t i : split->clients[k].indices) {
        EXPECT_FALSE(in_slice.count(i))
            << partition << ": client " << k << " holds validation " << i;
      }
    }
    EXPECT_EQ(OfKind(*split, EvalClientKind::kValidation).size(), 4u)
        << partition;
  }
}

TEST_F(ValidationSplitTest, GroupedValidationClientsHoldTheHeldOutPairs) {
  auto split = MakeFederationSplit(labels_, 10, Options("grouped"));
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  std::set<ClassSet> held, unseen;
  for (const auto& c : split->clients) held.insert(c.classes);
  for (const auto* e : OfKind(*split, EvalClientKind::kUnseen)) {
    unseen.insert(Support(e->class_weights));
  }
  for (const auto* e : OfKind(*split, EvalClientKind::kValidation)) {
    const ClassSet s = Support(e->class_weights);
    EXPECT_FALSE(held.count(s)) << e->name << " holds a training mix";
    EXPECT_TRUE(unseen.count(s)) << e->name << " is not a held-out pair";
  }
}

TEST_F(ValidationSplitTest, RandomLayoutsDrawSetsNoTrainingClientHolds) {
  for (const char* partition : {"grouped-random", "classes:3"}) {
    auto split = MakeFederationSplit(labels_, 10, Options(partition));
    ASSERT_TRUE(split.ok()) << partition << ": " << split.status().ToString();
    std::set<ClassSet> held;
    size_t size = 0;
    for (const auto& c : split->clients) {
      if (c.anchor_expert >= 0) continue;
      held.insert(c.classes);
      size = c.classes.size();
    }
    std::set<ClassSet> distinct;
    for (const auto* e : OfKind(*split, EvalClientKind::kValidation)) {
      const ClassSet s = Support(e->class_weights);
      EXPECT_EQ(s.size(), size) << partition << ": " << e->name;
      EXPECT_FALSE(held.count(s)) << partition << ": " << e->name;
      distinct.insert(s);
    }
    EXPECT_EQ(distinct.size(), 4u) << partition;
  }
}

TEST_F(ValidationSplitTest, DirichletAndIidMixesAreDrawnLikeTheUnseen) {
  auto dirichlet = MakeFederationSplit(labels_, 10, Options("dirichlet:0.3"));
  ASSERT_TRUE(dirichlet.ok());
  for (const auto* e : OfKind(*dirichlet, EvalClientKind::kValidation)) {
    double total = 0;
    for (double w : e->class_weights) total += w;
    EXPECT_NEAR(total, 1.0, 1e-9) << e->name;
  }
  auto iid = MakeFederationSplit(labels_, 10, Options("iid"));
  ASSERT_TRUE(iid.ok());
  for (const auto* e : OfKind(*iid, EvalClientKind::kValidation)) {
    EXPECT_EQ(e->class_weights, std::vector<double>(10, 0.1)) << e->name;
  }
}

TEST_F(ValidationSplitTest, IsDeterministicForASeed) {
  for (const char* partition : {"grouped", "dirichlet:0.3"}) {
    SplitOptions o = Options(partition);
    auto a = MakeFederationSplit(labels_, 10, o);
    auto b = MakeFederationSplit(labels_, 10, o);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->validation_indices, b->validation_indices) << partition;
    ASSERT_EQ(a->eval_clients.size(), b->eval_clients.size());
    for (size_t k = 0; k < a->eval_clients.size(); ++k) {
      EXPECT_EQ(a->eval_clients[k].class_weights,
                b->eval_clients[k].class_weights);
    }
    for (size_t k = 0; k < a->clients.size(); ++k) {
      EXPECT_EQ(a->clients[k].indices, b->clients[k].indices) << partition;
    }
    o.seed = 8;
    auto c = MakeFederationSplit(labels_, 10, o);
    ASSERT_TRUE(c.ok());
    EXPECT_NE(a->validation_indices, c->validation_indices) << partition;
  }
}

// Without validation clients nothing is cut: the split is the one of the
// options without them. With them, the grouped layout keeps its clients'
// class sets and its unseen test clients; only the examples move.
TEST_F(ValidationSplitTest, NoValidationClientsLeavesTheSplitAsItWas) {
  for (const char* partition :
       {"grouped", "grouped-random", "dirichlet:0.3", "iid"}) {
    SplitOptions plain = Options(partition);
    plain.validation_fraction = 0;
    plain.num_validation_eval = 0;
    SplitOptions defaults;
    defaults.partition = plain.partition;
    defaults.num_clients = plain.num_clients;
    defaults.num_experts = plain.num_experts;
    defaults.seed = plain.seed;
    auto a = MakeFederationSplit(labels_, 10, plain);
    auto b = MakeFederationSplit(labels_, 10, defaults);
    ASSERT_TRUE(a.ok() && b.ok()) << partition;
    EXPECT_TRUE(a->validation_indices.empty());
    EXPECT_TRUE(OfKind(*a, EvalClientKind::kValidation).empty());
    for (size_t k = 0; k < a->clients.size(); ++k) {
      EXPECT_EQ(a->clients[k].indices, b->clients[k].indices) << partition;
    }
    if (std::string(partition).starts_with("grouped")) {
      auto cut = MakeFederationSplit(labels_, 10, Options(partition));
      ASSERT_TRUE(cut.ok());
      for (size_t k = 0; k < a->clients.size(); ++k) {
        EXPECT_EQ(a->clients[k].classes, cut->clients[k].classes);
      }
      const auto before = OfKind(*a, EvalClientKind::kUnseen);
      const auto after = OfKind(*cut, EvalClientKind::kUnseen);
      ASSERT_EQ(before.size(), after.size()) << partition;
      for (size_t u = 0; u < before.size(); ++u) {
        EXPECT_EQ(before[u]->class_weights, after[u]->class_weights);
      }
    }
  }
}

// FNV-1a over every client's indices and every evaluation client's mix.
uint64_t Fingerprint(const FederationSplit& s) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  for (const auto& c : s.clients) {
    for (int64_t i : c.indices) mix(static_cast<uint64_t>(i));
    mix(999999);
  }
  for (const auto& e : s.eval_clients) {
    for (double w : e.class_weights) mix(static_cast<uint64_t>(w * 1e9));
  }
  return h;
}

// The splits as the code before validation clients made them (main at
// 81f38a0, with Debian 12's libstdc++): runs without --validation-clients
// must keep reproducing their old models and accuracies.
TEST(ValidationSplitGoldenTest, WithoutValidationTheSplitIsTheOldOne) {
  const std::vector<int64_t> labels = Labels(200, 10);
  const std::vector<std::pair<std::string, uint64_t>> golden = {
      {"grouped", 0x3fb11fe7eb89c3bbull},
      {"grouped-random", 0xc4242bb329cec979ull},
      {"dirichlet:0.3", 0x499af2404fac1cb1ull},
      {"iid", 0xdd46e9bca55a553bull},
      {"classes:3", 0x6e2765e9e07dc9c9ull},
  };
  for (const auto& [partition, want] : golden) {
    SplitOptions o;
    o.partition = partition;
    o.num_clients = 20;
    o.num_experts = partition.starts_with("classes") ? 0 : 5;
    o.seed = 7;
    auto split = MakeFederationSplit(labels, 10, o);
    ASSERT_TRUE(split.ok()) << partition;
    EXPECT_EQ(Fingerprint(*split), want) << partition;
  }
}

TEST_F(ValidationSplitTest, TooFewExamplesIsOneErrorNamingTheFlags) {
  SplitOptions o = Options("grouped");
  o.validation_fraction = 0;
  auto no_slice = MakeFederationSplit(labels_, 10, o);
  ASSERT_FALSE(no_slice.ok());
  EXPECT_NE(no_slice.status().message().find("--validation-fraction"),
            std::string::npos)
      << no_slice.status().ToString();

  o.validation_fraction = 0.001;  // 0.2 of each class's 200 rounds to 0
  auto tiny = MakeFederationSplit(labels_, 10, o);
  ASSERT_FALSE(tiny.ok());
  EXPECT_EQ(tiny.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tiny.status().message().find("--validation-fraction 0.001"),
            std::string::npos)
      << tiny.status().ToString();

  o.validation_fraction = 1;
  EXPECT_EQ(MakeFederationSplit(labels_, 10, o).status().code(),
            StatusCode::kInvalidArgument);

  // So many clients that the examples left do not go round.
  SplitOptions crowded = Options("iid");
  crowded.num_clients = 1900;
  crowded.num_experts = 0;
  crowded.validation_fraction = 0.5;
  auto none_left = MakeFederationSplit(labels_, 10, crowded);
  ASSERT_FALSE(none_left.ok());
  EXPECT_NE(none_left.status().message().find("--validation-fraction"),
            std::string::npos)
      << none_left.status().ToString();
}

}  // namespace
}  // namespace fedjets::common
