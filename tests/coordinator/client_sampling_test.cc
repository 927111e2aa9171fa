#include "coordinator/client_sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace fedjets::coordinator {
namespace {

std::vector<Candidate> Clients(int anchors, int normal) {
  std::vector<Candidate> c;
  for (int i = 0; i < anchors; ++i)
    c.push_back({"anchor-" + std::to_string(i), true});
  for (int i = 0; i < normal; ++i)
    c.push_back({"client-" + std::to_string(i), false});
  return c;
}

std::vector<std::string> Names(const std::vector<Candidate>& c,
                               const std::vector<size_t>& idx) {
  std::vector<std::string> n;
  for (size_t i : idx) n.push_back(c[i].name);
  return n;
}

TEST(DrawRoundTest, TakesTheAnchorShareAndOnlyTheRightKind) {
  auto c = Clients(5, 95);
  std::mt19937_64 rng(1);
  RoundDraw d = DrawRound(c, 10, 0.3, rng);
  EXPECT_EQ(d.anchors_wanted, 3);
  ASSERT_EQ(d.anchors.size(), 3u);
  ASSERT_EQ(d.normal.size(), 7u);
  for (size_t i : d.anchors) EXPECT_TRUE(c[i].anchor);
  for (size_t i : d.normal) EXPECT_FALSE(c[i].anchor);
  std::set<size_t> all(d.anchors.begin(), d.anchors.end());
  all.insert(d.normal.begin(), d.normal.end());
  EXPECT_EQ(all.size(), 10u);  // nobody twice
}

TEST(DrawRoundTest, TheOtherKindFillsUpWhenOneRunsShort) {
  auto c = Clients(2, 20);
  std::mt19937_64 rng(1);
  RoundDraw d = DrawRound(c, 10, 0.5, rng);
  EXPECT_EQ(d.anchors_wanted, 5);  // more than there are: the warning's case
  EXPECT_EQ(d.anchors.size(), 2u);
  EXPECT_EQ(d.normal.size(), 8u);

  auto few_normal = Clients(8, 1);
  RoundDraw e = DrawRound(few_normal, 6, 0.5, rng);
  EXPECT_EQ(e.normal.size(), 1u);
  EXPECT_EQ(e.anchors.size(), 5u);
}

TEST(DrawRoundTest, ZeroOrTooManyPerRoundTakesEveryone) {
  auto c = Clients(3, 4);
  std::mt19937_64 rng(1);
  RoundDraw d = DrawRound(c, 0, 0.5, rng);
  EXPECT_EQ(d.anchors.size() + d.normal.size(), 7u);
  RoundDraw e = DrawRound(c, 50, 0.5, rng);
  EXPECT_EQ(e.anchors.size() + e.normal.size(), 7u);
  EXPECT_TRUE(DrawRound({}, 10, 0.5, rng).anchors.empty());
}

// Clients join in network order; the same seed must draw the same clients.
TEST(DrawRoundTest, DependsOnNamesAndSeedNotOnJoinOrder) {
  auto c = Clients(5, 30);
  auto shuffled = c;
  std::mt19937_64 shuffle_rng(7);
  std::shuffle(shuffled.begin(), shuffled.end(), shuffle_rng);
  std::mt19937_64 a(3), b(3);
  for (int round = 0; round < 5; ++round) {
    RoundDraw x = DrawRound(c, 10, 0.5, a);
    RoundDraw y = DrawRound(shuffled, 10, 0.5, b);
    EXPECT_EQ(Names(c, x.anchors), Names(shuffled, y.anchors));
    EXPECT_EQ(Names(c, x.normal), Names(shuffled, y.normal));
  }
  std::mt19937_64 other(4), again(3);
  EXPECT_NE(Names(c, DrawRound(c, 10, 0.5, other).normal),
            Names(c, DrawRound(c, 10, 0.5, again).normal));
}

}  // namespace
}  // namespace fedjets::coordinator
