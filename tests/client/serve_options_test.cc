// How a client serves zero-shot, as the coordinator's Welcome says (issue
// #14): checked before use.
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

}  // namespace
}  // namespace fedjets::client
