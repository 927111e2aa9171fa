// FedJETs beyond the paper's recipe, end to end over real loopback sockets
// and mutual TLS (issue #14): the generalist expert (--generalist-expert)
// and the supervised routing loss of normal clients (--routing-loss).
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "common/learn/moe.h"
#include "tests/integration/fedjets_federation.h"

namespace fedjets {
namespace {

// Every client of a round trains the generalist (expert M = kExperts), it
// moves, and a just-in-time client is served it beside its top-K.
TEST_F(FedJetsTest, GeneralistIsTrainedByEveryClientAndServed) {
  auto o = Options("fedjets", 2);
  o.strategy.generalist_expert = true;
  auto run = RunAndServeNewcomer(o);
  const client::ClientResult& newcomer = run.newcomer;
  const auto& s = run.summary;

  const std::string generalist = common::ExpertWirePrefix(kExperts);
  // The gate has one more output; the generalist moved.
  common::Gate gate(64, 64, kExperts + 1);
  auto expert = common::MakeClassifier({"mlp", {1, 28, 28}, 10, 64}, 1);
  ASSERT_TRUE(expert.ok());
  const double g = common::TotalBytes(common::ToWire(*gate));
  const double e = common::TotalBytes(common::ToWire(**expert));
  EXPECT_DOUBLE_EQ(static_cast<double>(s.full_model_bytes),
                   g + (kExperts + 1) * e);
  auto before = common::TakePrefix(generalist, s.initial_params);
  auto after = common::TakePrefix(generalist, s.final_params);
  ASSERT_FALSE(after.empty());
  ASSERT_EQ(before.size(), after.size());
  EXPECT_NE(before[0].bytes, after[0].bytes) << "the generalist did not train";

  // Every exchange trained it, on top of the anchor's expert or the
  // normal client's top-K, and paid for one expert more each way.
  ASSERT_EQ(s.exchanges.size(), 20u);
  for (const auto& x : s.exchanges) {
    ASSERT_FALSE(x.experts.empty());
    EXPECT_EQ(x.experts.back(), kExperts) << x.client;
    if (x.role == coordinator::Role::kAnchor) {
      EXPECT_EQ(x.experts.size(), 2u);
      EXPECT_GE(x.bytes_sent, g + 2 * e);
      EXPECT_LT(x.bytes_sent, g + 3 * e);
    } else {
      EXPECT_LE(x.experts.size(), static_cast<size_t>(kTopK) + 1);
      EXPECT_LE(x.bytes_sent, 1.01 * (g + (kTopK + 1) * e));
    }
  }

  // Served: the gate, its K specialists and the generalist, untouched.
  ASSERT_TRUE(newcomer.status.ok()) << newcomer.status.ToString();
  EXPECT_EQ(newcomer.jit_experts.size(), static_cast<size_t>(kTopK));
  for (int q : newcomer.jit_experts) EXPECT_LT(q, kExperts);
  EXPECT_EQ(common::TakePrefix(generalist, newcomer.jit_params).size(),
            after.size());
  std::map<std::string, std::string> global;
  for (const auto& p : s.final_params) global[p.name] = p.bytes;
  for (const auto& p : newcomer.jit_params) {
    EXPECT_EQ(global[p.name], p.bytes) << p.name << " changed while serving";
  }
}

// The last eval event's routing accuracy in `run_dir`'s metrics.jsonl.
std::optional<double> FinalRoutingAccuracy(const fs::path& run_dir) {
  std::ifstream in(run_dir / "metrics.jsonl");
  std::optional<double> routing;
  for (std::string line; std::getline(in, line);) {
    auto event = coordinator::ParseEvent(line);
    if (!event.ok()) continue;
    if (auto* e = std::get_if<coordinator::EvalEvent>(&*event)) {
      routing = e->routing_accuracy;
    }
  }
  return routing;
}

// Normal clients alone (no anchor in any round): without the routing loss
// nothing ties an expert to its anchor's classes; with it the gate learns
// the class -> expert map the coordinator ships.
TEST_F(FedJetsTest, RoutingLossRaisesRoutingAccuracyOfNormalClients) {
  std::map<double, double> routing;
  for (double lambda : {0.0, 1.0}) {
    auto o = Options("fedjets", 3);
    o.anchor_share = 0;
    o.strategy.routing_loss = lambda;
    o.run_dir = (dir_ / ("routing-" + std::to_string(lambda))).string();
    auto s = RunFederation(o);
    for (const auto& x : s.exchanges) {
      ASSERT_EQ(x.role, coordinator::Role::kNormal);
    }
    auto r = FinalRoutingAccuracy(o.run_dir);
    ASSERT_TRUE(r) << "no routing accuracy in " << o.run_dir;
    routing[lambda] = *r;
  }
  std::cout << "routing accuracy on unseen clients: " << routing[0.0]
            << " without the routing loss, " << routing[1.0] << " with it\n";
  EXPECT_GT(routing[1.0], routing[0.0] + 0.1)
      << "routing accuracy " << routing[0.0] << " without the routing loss, "
      << routing[1.0] << " with it";
}

}  // namespace
}  // namespace fedjets
