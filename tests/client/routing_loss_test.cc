// A normal round task's routing loss as the client checks it before
// training (issue #14): the coordinator's class -> expert map is used only
// when it fits the federation's classes and experts.
#include <gtest/gtest.h>

#include <cmath>

#include "client/fedjets_state.h"

namespace fedjets::client {
namespace {

proto::RoundTask Task(double weight, std::vector<int> class_experts) {
  proto::RoundTask t;
  t.set_role(proto::RoundTask::ROLE_NORMAL);
  t.set_routing_loss(weight);
  for (int q : class_experts) t.add_class_experts(q);
  return t;
}

TEST(RoutingLossOfTest, TakesAMapOfOneExpertOrMinusOnePerClass) {
  auto r = RoutingLossOf(Task(0.5, {1, -1, 0}), /*num_classes=*/3,
                         /*num_experts=*/2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->weight, 0.5);
  EXPECT_EQ(r->class_experts, (std::vector<int64_t>{1, -1, 0}));
}

TEST(RoutingLossOfTest, CarriesTheRoutingOnlyGateAndRefusesItWithoutAWeight) {
  proto::RoundTask on = Task(0.5, {1, -1, 0});
  on.set_routing_only_gate(true);
  auto r = RoutingLossOf(on, 3, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->gate_only);
  EXPECT_FALSE(RoutingLossOf(Task(0.5, {1, -1, 0}), 3, 2)->gate_only);

  proto::RoundTask without_weight;
  without_weight.set_role(proto::RoundTask::ROLE_NORMAL);
  without_weight.set_routing_only_gate(true);
  auto bad = RoutingLossOf(without_weight, 3, 2);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("routing_only_gate"), std::string::npos)
      << bad.status().ToString();
}

TEST(RoutingLossOfTest, OffWithoutAWeight) {
  auto r = RoutingLossOf(proto::RoundTask{}, 3, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->weight, 0);
  EXPECT_TRUE(r->class_experts.empty());
}

TEST(RoutingLossOfTest, RefusesABadWeightOrAMapThatDoesNotFit) {
  const std::vector<std::pair<proto::RoundTask, std::string>> bad = {
      {Task(-1, {0, 1, 0}), "routing_loss"},
      {Task(std::nan(""), {0, 1, 0}), "routing_loss"},
      {Task(INFINITY, {0, 1, 0}), "routing_loss"},
      {Task(1, {0, 1}), "2 entries for 3 classes"},
      {Task(1, {0, 1, 0, 1}), "4 entries for 3 classes"},
      {Task(1, {0, 2, 0}), "expert 2"},
      {Task(1, {0, -2, 0}), "expert -2"},
  };
  for (const auto& [task, what] : bad) {
    auto r = RoutingLossOf(task, 3, 2);
    ASSERT_FALSE(r.ok()) << task.DebugString();
    EXPECT_EQ(r.status().code(), common::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(what), std::string::npos)
        << r.status().ToString();
  }
}

}  // namespace
}  // namespace fedjets::client
