#include "common/data/federation_split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace fedjets::common {
namespace {

std::vector<int64_t> Labels(int64_t per_class, int64_t classes) {
  std::vector<int64_t> y;
  for (int64_t i = 0; i < per_class * classes; ++i) y.push_back(i % classes);
  return y;
}

class FederationSplitTest : public ::testing::Test {
 protected:
  std::vector<int64_t> labels_ = Labels(200, 10);
};

TEST_F(FederationSplitTest, GroupedGivesAnchorsOneGroupAndClientsTwoGroups) {
  SplitOptions o;
  o.partition = "grouped";
  o.num_clients = 30;
  o.num_experts = 5;
  auto split = MakeFederationSplit(labels_, 10, o);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  ASSERT_EQ(split->anchor_classes.size(), 5u);
  std::set<int64_t> covered;
  for (int q = 0; q < 5; ++q) {
    EXPECT_EQ(split->clients[q].anchor_expert, q);
    EXPECT_EQ(split->clients[q].classes, split->anchor_classes[q]);
    EXPECT_EQ(split->anchor_classes[q].size(), 2u);
    covered.insert(split->anchor_classes[q].begin(),
                   split->anchor_classes[q].end());
  }
  EXPECT_EQ(covered.size(), 10u) << "groups partition the classes";
  for (int j = 5; j < 30; ++j) {
    const auto& c = split->clients[j];
    EXPECT_EQ(c.anchor_expert, -1);
    ASSERT_EQ(c.classes.size(), 4u);
    int groups_hit = 0;
    for (const auto& g : split->anchor_classes) {
      int in = 0;
      for (int64_t k : g)
        in += std::count(c.classes.begin(), c.classes.end(), k);
      EXPECT_TRUE(in == 0 || in == 2) << "a client holds whole groups";
      groups_hit += in == 2;
    }
    EXPECT_EQ(groups_hit, 2);
    for (int64_t i : c.indices) {
      EXPECT_TRUE(std::count(c.classes.begin(), c.classes.end(), labels_[i]));
    }
  }
}

// Used to divide by zero (SIGFPE): the one pair of groups went to the unseen
// clients and the normal clients were dealt pairs from an empty list.
TEST_F(FederationSplitTest, GroupedWithTwoExpertsIsRefusedNotACrash) {
  SplitOptions o;
  o.partition = "grouped";
  o.num_clients = 6;
  o.num_experts = 2;
  auto split = MakeFederationSplit(labels_, 10, o);
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(split.status().message().find("--num-experts >= 3"),
            std::string::npos)
      << split.status().ToString();
  o.num_experts = 3;
  EXPECT_TRUE(MakeFederationSplit(labels_, 10, o).ok());
}

TEST_F(FederationSplitTest,
       UnseenClientsHoldCombinationsNoTrainingClientHolds) {
  SplitOptions o;
  o.partition = "grouped";
  o.num_clients = 30;
  o.num_experts = 5;
  auto split = MakeFederationSplit(labels_, 10, o);
  ASSERT_TRUE(split.ok());
  std::set<std::vector<int64_t>> held;
  for (const auto& c : split->clients) held.insert(c.classes);
  int unseen = 0;
  for (const auto& e : split->eval_clients) {
    std::vector<int64_t> classes;
    for (size_t k = 0; k < e.class_weights.size(); ++k) {
      if (e.class_weights[k] > 0) classes.push_back(k);
    }
    if (e.kind == EvalClientKind::kUnseen) {
      ++unseen;
      EXPECT_FALSE(held.count(classes)) << e.name;
    } else {
      EXPECT_TRUE(held.count(classes)) << e.name;
    }
  }
  EXPECT_EQ(unseen, 3) << "30% of the 10 group pairs";
}

TEST_F(FederationSplitTest, ShardsAreDisjointAndDeterministic) {
  for (const char* partition :
       {"grouped", "grouped-random", "dirichlet:0.3", "iid"}) {
    SplitOptions o;
    o.partition = partition;
    o.num_clients = 20;
    o.num_experts = 5;
    o.seed = 7;
    auto a = MakeFederationSplit(labels_, 10, o);
    auto b = MakeFederationSplit(labels_, 10, o);
    ASSERT_TRUE(a.ok()) << partition << ": " << a.status().ToString();
    std::set<int64_t> seen;
    for (size_t k = 0; k < a->clients.size(); ++k) {
      EXPECT_FALSE(a->clients[k].indices.empty()) << partition;
      EXPECT_EQ(a->clients[k].indices, b->clients[k].indices) << partition;
      for (int64_t i : a->clients[k].indices) {
        EXPECT_TRUE(seen.insert(i).second) << partition << ": example " << i;
      }
    }
  }
}

TEST_F(FederationSplitTest, WithoutExpertsMatchesThePlainPartitioner) {
  SplitOptions o;
  o.partition = "grouped";
  o.num_clients = 10;
  o.num_experts = 0;
  EXPECT_EQ(MakeFederationSplit(labels_, 10, o).status().code(),
            StatusCode::kInvalidArgument);
  o.partition = "classes:2";
  auto split = MakeFederationSplit(labels_, 10, o);
  ASSERT_TRUE(split.ok());
  for (const auto& c : split->clients) EXPECT_EQ(c.classes.size(), 2u);
}

TEST_F(FederationSplitTest, SampleByClassFollowsWeights) {
  std::vector<double> w(10, 0.0);
  w[2] = 0.75;
  w[5] = 0.25;
  auto idx = SampleByClass(labels_, w, 100, 1);
  ASSERT_EQ(idx.size(), 100u);
  int two = 0;
  for (int64_t i : idx) {
    EXPECT_TRUE(labels_[i] == 2 || labels_[i] == 5);
    two += labels_[i] == 2;
  }
  EXPECT_EQ(two, 75);
}

}  // namespace
}  // namespace fedjets::common
