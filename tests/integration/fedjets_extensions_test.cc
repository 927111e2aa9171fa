// FedJETs beyond the paper's recipe, end to end over real loopback sockets
// and mutual TLS (issue #14): the generalist expert (--generalist-expert,
// --generalist-weight),
// the supervised routing loss of normal clients (--routing-loss) and
// zero-shot serving (--serve-mixture, --serve-mass, --serve-max-k).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "common/learn/moe_serving.h"
#include "tests/integration/fedjets_federation.h"

namespace fedjets {
namespace {

// The last eval event in `run_dir`'s metrics.jsonl.
std::optional<coordinator::EvalEvent> FinalEval(const fs::path& run_dir) {
  std::ifstream in(run_dir / "metrics.jsonl");
  std::optional<coordinator::EvalEvent> last;
  for (std::string line; std::getline(in, line);) {
    auto event = coordinator::ParseEvent(line);
    if (!event.ok()) continue;
    if (auto* e = std::get_if<coordinator::EvalEvent>(&*event)) last = *e;
  }
  return last;
}

// The last eval event's routing accuracy in `run_dir`'s metrics.jsonl.
std::optional<double> FinalRoutingAccuracy(const fs::path& run_dir) {
  auto e = FinalEval(run_dir);
  return e ? e->routing_accuracy : std::nullopt;
}

// The gate's generalist output (its last row of fc2.weight, and of
// fc2.bias) in the wire parameters `params`.
std::vector<float> GeneralistGateOutput(const common::ParameterList& params) {
  std::vector<float> out;
  for (const auto& t : common::TakePrefix(common::kGateWirePrefix, params)) {
    if (t.name != "fc2.weight" && t.name != "fc2.bias") continue;
    const size_t row = t.bytes.size() / (kExperts + 1);
    std::vector<float> v(row / sizeof(float));
    std::memcpy(v.data(), t.bytes.data() + kExperts * row, row);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// A 2-round run with --generalist-expert (summary `s`): every client
// trained the generalist, and the newcomer was served it beside its top-K
// with no step.
void ExpectGeneralistTrainedAndServed(const coordinator::RunSummary& s,
                                      const client::ClientResult& newcomer) {
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

// Every client of a round trains the generalist (expert M = kExperts), it
// moves, and a just-in-time client is served it beside its top-K. With
// --generalist-weight the clients mix it at that weight: nothing trains
// the gate's generalist output, and at W = 0.3 < (1 - W) / K no
// evaluation sample is served by it.
TEST_F(FedJetsTest, GeneralistIsTrainedByEveryClientAndServed) {
  for (double weight : {common::kGateWeighsGeneralist, 0.3}) {
    SCOPED_TRACE(weight);
    auto o = Options("fedjets", 2);
    // Normal clients train the gate (its generalist output among it), and
    // clients are served the top-K, so that K and W fix who serves.
    o.strategy.normal_gate_lr = -1;
    o.strategy.serve_mass = 0;
    o.strategy.generalist_expert = true;
    o.strategy.generalist_weight = weight;
    o.run_dir = (dir_ / ("generalist-" + std::to_string(weight))).string();
    auto run = RunAndServeNewcomer(o);
    ExpectGeneralistTrainedAndServed(run.summary, run.newcomer);
    const auto before = GeneralistGateOutput(run.summary.initial_params);
    const auto after = GeneralistGateOutput(run.summary.final_params);
    ASSERT_EQ(before.size(), 64u + 1);
    ASSERT_EQ(after.size(), before.size());
    double moved = 0;
    for (size_t i = 0; i < after.size(); ++i) {
      moved = std::max<double>(moved, std::abs(after[i] - before[i]));
    }
    auto eval = FinalEval(o.run_dir);
    ASSERT_TRUE(eval && eval->generalist_share) << o.run_dir;
    if (weight == common::kGateWeighsGeneralist) {
      EXPECT_GT(moved, 1e-4) << "the gate's generalist output did not train";
    } else {
      // Unchanged up to the rounding of averaging equal values.
      EXPECT_LT(moved, 1e-6) << "the gate's generalist output trained";
      EXPECT_EQ(*eval->generalist_share, 0);
    }
  }
}

// Normal clients alone (no anchor in any round): without the routing loss
// nothing ties an expert to its anchor's classes; with it the gate learns
// the class -> expert map the coordinator ships.
TEST_F(FedJetsTest, RoutingLossRaisesRoutingAccuracyOfNormalClients) {
  std::map<double, double> routing;
  for (double lambda : {0.0, 1.0}) {
    auto o = Options("fedjets", 3);
    o.anchor_share = 0;
    o.strategy.normal_gate_lr = -1;  // normal clients train the gate
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

// The serving flags reach both zero-shot paths: the coordinator's
// evaluation clients (unseen ones included) and a fedjets-client --serve.
// A tiny --serve-mass is covered by one expert, whatever the prior. The
// whole mass takes every expert with a prior left, beyond --top-k 1 for
// the two-group clients (the newcomer among them), which the coordinator
// then grants a serving client, and never more than --serve-max-k.
TEST_F(FedJetsTest, ServingFlagsReachEvaluationAndServedClients) {
  for (double mass : {0.01, 1.0}) {
    SCOPED_TRACE(mass);
    auto o = Options("fedjets", 2);
    const bool whole = mass == 1.0;
    if (whole) o.strategy.top_k = 1;
    o.strategy.serve_mixture = true;
    o.strategy.serve_mass = mass;
    o.strategy.serve_max_k = whole ? 3 : 0;
    o.run_dir = (dir_ / ("serve-" + std::to_string(mass))).string();
    auto run = RunAndServeNewcomer(o);
    ASSERT_TRUE(run.newcomer.status.ok()) << run.newcomer.status.ToString();
    auto eval = FinalEval(o.run_dir);
    ASSERT_TRUE(eval) << "no eval event in " << o.run_dir;
    int unseen = 0, beyond_top_k = 0;
    for (const auto& c : eval->clients) {
      ASSERT_TRUE(c.experts) << c.name;
      unseen += c.kind == common::EvalClientKind::kUnseen;
      if (whole) {
        EXPECT_LE(c.experts->size(), 3u) << c.name;
        beyond_top_k += c.experts->size() > 1;
      } else {
        EXPECT_EQ(c.experts->size(), 1u) << c.name;
      }
    }
    EXPECT_GT(unseen, 0);
    if (whole) {
      EXPECT_GT(run.newcomer.jit_experts.size(), 1u);
      EXPECT_LE(run.newcomer.jit_experts.size(), 3u);
      EXPECT_GT(beyond_top_k, 0);
    } else {
      EXPECT_EQ(run.newcomer.jit_experts.size(), 1u);
    }
    EXPECT_GT(run.newcomer.jit_accuracy, 0);
  }
}

}  // namespace
}  // namespace fedjets
