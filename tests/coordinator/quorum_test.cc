#include "coordinator/quorum.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace fedjets::coordinator {
namespace {

QuorumOptions Quorum(int count, double fraction) {
  QuorumOptions q;
  q.min_updates = count;
  q.min_update_fraction = fraction;
  return q;
}

TEST(QuorumTest, ACountAloneIsTheQuorumWhateverWasSampled) {
  EXPECT_EQ(EffectiveQuorum(Quorum(1, 0.0), 10), 1);
  EXPECT_EQ(EffectiveQuorum(Quorum(3, 0.0), 0), 3);
}

TEST(QuorumTest, AFractionRoundsUpAndTheLargerOfTheTwoWins) {
  EXPECT_EQ(EffectiveQuorum(Quorum(1, 0.5), 5), 3);   // ceil(2.5)
  EXPECT_EQ(EffectiveQuorum(Quorum(1, 0.5), 6), 3);   // exactly 3
  EXPECT_EQ(EffectiveQuorum(Quorum(4, 0.5), 6), 4);   // the count is larger
  EXPECT_EQ(EffectiveQuorum(Quorum(1, 1.0), 7), 7);   // every client
  EXPECT_EQ(EffectiveQuorum(Quorum(1, 0.01), 3), 1);  // ceil(0.03)
  EXPECT_EQ(EffectiveQuorum(Quorum(2, 0.75), 0), 2);  // nobody sampled
}

TEST(QuorumTest, AProductThatIsAnIntegerUpToRoundingIsNotRoundedUp) {
  // In doubles 0.28 × 25 == 7.000000000000001, 0.55 × 100 ==
  // 55.00000000000001.
  ASSERT_GT(0.28 * 25, 7.0);
  EXPECT_EQ(EffectiveQuorum(Quorum(1, 0.28), 25), 7);
  EXPECT_EQ(EffectiveQuorum(Quorum(1, 0.55), 100), 55);
  EXPECT_EQ(EffectiveQuorum(Quorum(1, 0.7), 11), 8);  // 7.7
}

// Expects InvalidArgument whose message holds `part`.
void ExpectInvalid(const QuorumOptions& q, int clients_per_round,
                   const std::string& part) {
  common::Status st = ValidateQuorum(q, clients_per_round);
  ASSERT_EQ(st.code(), common::StatusCode::kInvalidArgument) << part;
  EXPECT_NE(st.message().find(part), std::string::npos) << st.ToString();
}

TEST(QuorumTest, ValidationNamesTheFlagOutOfRange) {
  EXPECT_TRUE(ValidateQuorum(QuorumOptions{}, 0).ok());
  EXPECT_TRUE(ValidateQuorum(Quorum(2, 1.0), 2).ok());
  ExpectInvalid(Quorum(0, 0.0), 0, "--min-updates must be >= 1, not 0");
  ExpectInvalid(Quorum(1, -0.1), 0, "--min-update-fraction must be in [0, 1]");
  ExpectInvalid(Quorum(1, 1.5), 0, "--min-update-fraction must be in [0, 1]");
  ExpectInvalid(Quorum(1, std::numeric_limits<double>::quiet_NaN()), 0,
                "--min-update-fraction");
  QuorumOptions no_tries;
  no_tries.max_failed_rounds = 0;
  ExpectInvalid(no_tries, 0, "--max-failed-rounds must be >= 1, not 0");
}

TEST(QuorumTest, ACountAboveTheClientsPerRoundCouldNeverBeReached) {
  ExpectInvalid(Quorum(3, 0.0), 2,
                "--min-updates 3 is more than --clients-per-round 2");
  EXPECT_TRUE(ValidateQuorum(Quorum(3, 0.0), 0).ok());  // 0 = everyone
}

}  // namespace
}  // namespace fedjets::coordinator
