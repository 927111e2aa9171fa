#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "common/data/partition.h"

namespace fedjets::common {
namespace {

using Sets = std::vector<std::vector<int64_t>>;

// per_class examples of each of num_classes classes.
std::vector<int64_t> Labels(int64_t num_classes, int per_class) {
  std::vector<int64_t> y;
  for (int i = 0; i < per_class; ++i) {
    for (int64_t c = 0; c < num_classes; ++c) y.push_back(c);
  }
  return y;
}

PartitionSpec Classes(int k) {
  PartitionSpec s;
  s.kind = PartitionSpec::Kind::kClasses;
  s.classes_per_client = k;
  return s;
}

void ExpectDisjoint(const UnseenPartition& p) {
  std::set<int64_t> seen;
  for (const auto* parts : {&p.train, &p.unseen}) {
    for (const auto& part : *parts) {
      EXPECT_TRUE(std::is_sorted(part.begin(), part.end()));
      for (int64_t i : part) EXPECT_TRUE(seen.insert(i).second) << i;
    }
  }
}

TEST(PartitionWithUnseenTest, UnseenClientsHoldCombinationsNoTrainerHolds) {
  const auto labels = Labels(10, 60);
  auto p = PartitionWithUnseen(labels, 10, /*num_train=*/20,
                               /*num_unseen=*/6, Classes(2), /*seed=*/3);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->train.size(), 20u);
  ASSERT_EQ(p->unseen.size(), 6u);
  ExpectDisjoint(*p);
  const std::set<std::vector<int64_t>> train_sets(p->train_classes.begin(),
                                                  p->train_classes.end());
  std::set<std::vector<int64_t>> unseen_sets;
  for (size_t u = 0; u < p->unseen.size(); ++u) {
    const auto& s = p->unseen_classes[u];
    EXPECT_EQ(s.size(), 2u);
    EXPECT_FALSE(train_sets.contains(s));
    EXPECT_TRUE(unseen_sets.insert(s).second);  // distinct among themselves
    EXPECT_FALSE(p->unseen[u].empty());
    for (int64_t i : p->unseen[u]) {
      EXPECT_TRUE(std::binary_search(s.begin(), s.end(), labels[i]));
    }
  }
  EXPECT_EQ(p->unseen_sharing_a_train_combination, 0);
  for (size_t j = 0; j < p->train.size(); ++j) {
    for (int64_t i : p->train[j]) {
      EXPECT_TRUE(std::binary_search(p->train_classes[j].begin(),
                                     p->train_classes[j].end(), labels[i]));
    }
  }
}

TEST(PartitionWithUnseenTest, ReusesCombinationsOnlyWhenAllAreTaken) {
  // 3 classes, K = 2: only 3 combinations; 4 trainers take all of them.
  auto p = PartitionWithUnseen(Labels(3, 30), 3, 4, 2, Classes(2), 1);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ExpectDisjoint(*p);
  EXPECT_EQ(p->unseen_sharing_a_train_combination, 2);
}

TEST(PartitionWithUnseenTest, LargeCombinationSpacesAreSampled) {
  // C(60, 6) is far above the enumeration limit.
  auto p = PartitionWithUnseen(Labels(60, 20), 60, 10, 4, Classes(6), 5);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ExpectDisjoint(*p);
  EXPECT_EQ(p->unseen_sharing_a_train_combination, 0);
}

TEST(PartitionWithUnseenTest, IsDeterministicInTheSeed) {
  const auto labels = Labels(10, 20);
  auto a = PartitionWithUnseen(labels, 10, 8, 3, Classes(3), 11);
  auto b = PartitionWithUnseen(labels, 10, 8, 3, Classes(3), 11);
  auto c = PartitionWithUnseen(labels, 10, 8, 3, Classes(3), 12);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->unseen, b->unseen);
  EXPECT_EQ(a->train, b->train);
  EXPECT_NE(a->train, c->train);
}

TEST(PartitionWithUnseenTest, DirichletAndIidPutTheLastClientsAside) {
  const auto labels = Labels(5, 40);
  PartitionSpec dir;
  dir.kind = PartitionSpec::Kind::kDirichlet;
  dir.alpha = 0.3;
  for (const PartitionSpec& spec : {PartitionSpec{}, dir}) {
    auto p = PartitionWithUnseen(labels, 5, 6, 2, spec, 2);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ExpectDisjoint(*p);
    auto all = Partition(labels, 5, 8, spec, 2);
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(p->unseen[1], (*all)[7]) << ToString(spec);
    EXPECT_EQ(p->unseen_classes.size(), 2u);
  }
}

TEST(PartitionWithUnseenTest, RejectsBadCounts) {
  EXPECT_FALSE(PartitionWithUnseen(Labels(3, 5), 3, 0, 1, Classes(1), 1).ok());
  EXPECT_FALSE(PartitionWithUnseen(Labels(3, 5), 3, 2, -1, Classes(1), 1).ok());
  EXPECT_FALSE(PartitionWithUnseen(Labels(3, 5), 3, 2, 1, Classes(4), 1).ok());
}

TEST(PartitionByClassSetsTest, CutsEachClassAmongItsHolders) {
  const auto labels = Labels(4, 9);  // 9 per class
  auto p = PartitionByClassSets(labels, 4, Sets{{0, 1}, {1, 2}, {1}}, 4);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto hist = ClassHistogram(labels, 4, *p);
  EXPECT_EQ(hist[0][0], 9);
  EXPECT_EQ(hist[0][1] + hist[1][1] + hist[2][1], 9);
  EXPECT_EQ(hist[1][2], 9);
  EXPECT_EQ(hist[0][3] + hist[1][3] + hist[2][3], 0);  // nobody holds 3
  for (int j = 0; j < 3; ++j) EXPECT_EQ(hist[j][1], 3);
}

// Pins exact splits for fixed seeds, so that a change to how classes are
// assigned or cut, which would silently change experiments, fails here.
TEST(PartitionWithUnseenTest, ClassesSplitForAFixedSeedIsPinned) {
  auto p = PartitionWithUnseen(Labels(5, 4), 5, 3, 2, Classes(2), 3);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->train_classes, (Sets{{0, 4}, {2, 3}, {1, 2}}));
  EXPECT_EQ(p->unseen_classes, (Sets{{3, 4}, {0, 1}}));
  EXPECT_EQ(p->train, (Sets{{4, 5, 14, 15}, {8, 12, 17, 18}, {1, 2, 7, 16}}));
  EXPECT_EQ(p->unseen, (Sets{{3, 9, 13, 19}, {0, 6, 10, 11}}));
  EXPECT_EQ(p->unseen_sharing_a_train_combination, 0);
}

TEST(PartitionByClassSetsTest, SplitForAFixedSeedIsPinned) {
  auto p = PartitionByClassSets(Labels(4, 3), 4, Sets{{0, 1}, {1, 2}, {1}}, 4);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, (Sets{{0, 4, 8, 9}, {2, 5, 6, 10}, {1}}));
}

TEST(PartitionByClassSetsTest, RejectsBadSets) {
  const auto labels = Labels(2, 1);
  EXPECT_FALSE(PartitionByClassSets(labels, 2, Sets{{0, 0}}, 1).ok());
  EXPECT_FALSE(PartitionByClassSets(labels, 2, Sets{{2}}, 1).ok());
  EXPECT_FALSE(PartitionByClassSets(labels, 2, Sets{{0}, {0}}, 1).ok());
  EXPECT_FALSE(PartitionByClassSets(labels, 2, Sets{}, 1).ok());
}

}  // namespace
}  // namespace fedjets::common
