#include "common/base/seeded_random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <vector>

namespace fedjets::common {
namespace {

std::vector<int> Iota(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(SeededRandomTest, PairedShuffleIsAPermutation) {
  std::mt19937_64 rng(7);
  for (int n = 0; n < 40; ++n) {
    auto v = Iota(n);
    PairedShuffle(v, rng);
    std::sort(v.begin(), v.end());
    EXPECT_EQ(v, Iota(n)) << "n=" << n;
  }
}

TEST(SeededRandomTest, PairedShuffleDependsOnTheSeedOnly) {
  auto a = Iota(50), b = Iota(50), c = Iota(50);
  std::mt19937_64 ra(3), rb(3), rc(4);
  PairedShuffle(a, ra);
  PairedShuffle(b, rb);
  PairedShuffle(c, rc);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(SeededRandomTest, PairedShuffleReachesEveryOrderOfThreeEvenly) {
  std::mt19937_64 rng(11);
  std::map<std::vector<int>, int> seen;
  for (int k = 0; k < 6000; ++k) {
    auto v = Iota(3);
    PairedShuffle(v, rng);
    ++seen[v];
  }
  ASSERT_EQ(seen.size(), 6u);
  for (const auto& [order, count] : seen) EXPECT_NEAR(count, 1000, 150);
}

TEST(SeededRandomTest, MultiplyBelowStaysInRange) {
  std::mt19937_64 rng(5);
  for (uint64_t n : {1ull, 2ull, 3ull, 10ull, 1000003ull, ~0ull}) {
    for (int k = 0; k < 200; ++k) EXPECT_LT(MultiplyBelow(rng, n), n);
  }
}

#if defined(__GLIBCXX__)
// Runs recorded before PairedShuffle replaced std::shuffle keep their client
// samples and federation layouts: same engine state, same order.
TEST(SeededRandomTest, PairedShuffleMatchesLibstdcxxShuffle) {
  for (uint64_t seed : {0ull, 1ull, 2ull, 42ull, 12345ull}) {
    std::mt19937_64 ours(seed), theirs(seed);
    for (int n = 0; n < 120; ++n) {
      auto a = Iota(n), b = Iota(n);
      PairedShuffle(a, ours);
      std::shuffle(b.begin(), b.end(), theirs);
      ASSERT_EQ(a, b) << "seed " << seed << ", n " << n;
    }
    EXPECT_EQ(ours(), theirs()) << "same number of draws";
  }
}
#endif

}  // namespace
}  // namespace fedjets::common
