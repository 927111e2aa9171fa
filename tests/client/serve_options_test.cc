// How a client serves zero-shot (and weighs the generalist), as the
// coordinator's Welcome says (issue #14): checked before use.
#include <gtest/gtest.h>

#include <limits>

#include "client/fedjets_state.h"

namespace fedjets::client {
namespace {

proto::MoeConfig Moe(bool mixture, double mass, int max_k) {
  proto::MoeConfig m;
  m.set_num_experts(5);
  m.set_top_k(2);
  m.set_serve_mixture(mixture);
  m.set_serve_mass(mass);
  m.set_serve_max_k(max_k);
  return m;
}

TEST(ServeOptionsOfTest, TakesTheWelcomesServing) {
  auto off = ServeOptionsOf(Moe(false, 0, 0));
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->mixture);
  EXPECT_EQ(off->mass, 0);
  auto on = ServeOptionsOf(Moe(true, 0.9, 5));
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_TRUE(on->mixture);
  EXPECT_DOUBLE_EQ(on->mass, 0.9);
  EXPECT_EQ(on->max_k, 5);
  EXPECT_FALSE(on->label_shift);
  proto::MoeConfig shift = Moe(true, 0.9, 5);
  shift.set_serve_label_shift(true);
  auto with_shift = ServeOptionsOf(shift);
  ASSERT_TRUE(with_shift.ok()) << with_shift.status().ToString();
  EXPECT_TRUE(with_shift->label_shift);
}

TEST(ServeOptionsOfTest, RefusesAMassOutsideZeroToOneOrABadCap) {
  for (double mass : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    auto r = ServeOptionsOf(Moe(false, mass, 0));
    EXPECT_EQ(r.status().code(), common::StatusCode::kInvalidArgument) << mass;
    EXPECT_NE(r.status().message().find("serve_mass"), std::string::npos);
  }
  for (int k : {-1, 6}) {
    auto r = ServeOptionsOf(Moe(false, 0.9, k));
    EXPECT_EQ(r.status().code(), common::StatusCode::kInvalidArgument) << k;
    EXPECT_NE(r.status().message().find("serve_max_k"), std::string::npos);
  }
}

TEST(ServeOptionsOfTest, TakesTheGeneralistWeightOnlyWithAGeneralist) {
  auto off = ServeOptionsOf(Moe(false, 0, 0));
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->generalist_weight, common::kGateWeighsGeneralist);
  proto::MoeConfig m = Moe(false, 0, 0);
  m.set_generalist_expert(true);
  m.set_generalist_weight(0);
  auto zero = ServeOptionsOf(m);
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_EQ(zero->generalist_weight, 0);
  m.set_generalist_weight(0.25);
  auto on = ServeOptionsOf(m);
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_EQ(on->generalist_weight, 0.25);
  for (double w : {-1.0, 1.0, 2.0, std::numeric_limits<double>::quiet_NaN(),
                   std::numeric_limits<double>::infinity()}) {
    m.set_generalist_weight(w);
    auto r = ServeOptionsOf(m);
    EXPECT_EQ(r.status().code(), common::StatusCode::kInvalidArgument) << w;
    EXPECT_NE(r.status().message().find("generalist_weight"),
              std::string::npos);
  }
  m.set_generalist_expert(false);
  m.set_generalist_weight(0.25);
  auto without = ServeOptionsOf(m);
  EXPECT_EQ(without.status().code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(without.status().message().find("without generalist_expert"),
            std::string::npos)
      << without.status().ToString();
}

}  // namespace
}  // namespace fedjets::client
