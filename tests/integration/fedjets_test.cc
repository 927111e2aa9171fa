// FedJETs end to end over real loopback sockets and mutual TLS: anchors,
// expert routing, aggregation and just-in-time serving, CI-sized.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "common/learn/moe.h"
#include "common/learn/update_bounds.h"
#include "tests/integration/fedjets_federation.h"

namespace fedjets {
namespace {

TEST_F(FedJetsTest, ZeroShotAccuracyOnUnseenClientsBeatsFedAvg) {
  auto fedjets = RunFederation(Options("fedjets", 25));
  auto fedavg = RunFederation(Options("fedavg", 25));
  ASSERT_GE(fedjets.final_unseen_accuracy, 0);
  ASSERT_GE(fedavg.final_unseen_accuracy, 0);
  EXPECT_GT(fedjets.final_unseen_accuracy, fedavg.final_unseen_accuracy)
      << "fedjets " << fedjets.final_unseen_accuracy << " vs fedavg "
      << fedavg.final_unseen_accuracy;
}

// Clients join and report in network order; a seed must still pin down
// which clients train each round and the models that come out.
TEST_F(FedJetsTest, SameSeedGivesIdenticalModels) {
  auto first = RunFederation(Options("fedjets", 4));
  auto second = RunFederation(Options("fedjets", 4));
  ASSERT_EQ(first.exchanges.size(), second.exchanges.size());
  std::multiset<std::string> a, b;
  for (const auto& x : first.exchanges) a.insert(x.client);
  for (const auto& x : second.exchanges) b.insert(x.client);
  EXPECT_EQ(a, b) << "the two runs sampled different clients";
  ASSERT_EQ(first.final_params.size(), second.final_params.size());
  for (size_t i = 0; i < first.final_params.size(); ++i) {
    EXPECT_EQ(first.final_params[i].name, second.final_params[i].name);
    EXPECT_TRUE(first.final_params[i].bytes == second.final_params[i].bytes)
        << first.final_params[i].name << " differs between the two runs";
  }
}

// --normal-gate-lr 0: only anchors train the gate. A round of normal
// clients alone then trains experts and leaves the gate as it was.
TEST_F(FedJetsTest, NormalClientsLeaveTheGateAloneWithNormalGateLrZero) {
  auto o = Options("fedjets", 1);
  o.anchor_share = 0;  // sample normal clients only
  o.strategy.normal_gate_lr = 0;
  auto s = RunFederation(o);
  ASSERT_FALSE(s.exchanges.empty());
  for (const auto& x : s.exchanges)
    EXPECT_EQ(x.role, coordinator::Role::kNormal);
  std::map<std::string, std::string> before;
  for (const auto& p : s.initial_params) before[p.name] = p.bytes;
  int gate = 0, expert_changed = 0;
  for (const auto& p : s.final_params) {
    if (p.name.rfind(common::kGateWirePrefix, 0) == 0) {
      ++gate;
      EXPECT_EQ(before[p.name], p.bytes) << p.name << " moved";
    } else if (before[p.name] != p.bytes) {
      ++expert_changed;
    }
  }
  EXPECT_GT(gate, 0);
  EXPECT_GT(expert_changed, 0) << "the normal clients' experts did not train";
}

TEST_F(FedJetsTest, AnchorsGetOnlyTheirExpertAndServingTakesNoStep) {
  auto run = RunAndServeNewcomer(Options("fedjets", 3));
  const client::ClientResult& newcomer = run.newcomer;
  ASSERT_TRUE(newcomer.status.ok()) << newcomer.status.ToString();
  const auto& s = run.summary;
  EXPECT_EQ(s.served_clients, 1);

  // What the newcomer holds after predicting is exactly what the
  // coordinator sent: the final gate and the experts its EM prior chose
  // (by default at most --serve-max-k 5), untouched.
  EXPECT_GE(newcomer.jit_experts.size(), 1u);
  EXPECT_LE(newcomer.jit_experts.size(),
            size_t(coordinator::StrategyOptions{}.serve_max_k));
  EXPECT_GE(newcomer.jit_accuracy, 0.0);
  std::map<std::string, std::string> global;
  for (const auto& p : s.final_params) global[p.name] = p.bytes;
  size_t checked = 0;
  for (const auto& p : newcomer.jit_params) {
    ASSERT_TRUE(global.count(p.name)) << p.name;
    EXPECT_EQ(global[p.name], p.bytes) << p.name << " changed while serving";
    ++checked;
  }
  EXPECT_GT(checked, 0u);

  // Bytes on the wire: an anchor gets the gate and one expert, a normal
  // client the gate and at most K experts, never all M.
  common::Gate gate(64, 64, kExperts);
  auto expert = common::MakeClassifier({"mlp", {1, 28, 28}, 10, 64}, 1);
  const double g = common::TotalBytes(common::ToWire(*gate));
  const double e = common::TotalBytes(common::ToWire(**expert));
  EXPECT_DOUBLE_EQ(static_cast<double>(s.full_model_bytes), g + kExperts * e);
  int anchors = 0, normals = 0;
  for (const auto& x : s.exchanges) {
    if (x.role == coordinator::Role::kAnchor) {
      ++anchors;
      ASSERT_EQ(x.experts.size(), 1u);
      EXPECT_EQ("client-" + std::to_string(x.experts[0]), x.client);
      EXPECT_GE(x.bytes_sent, g + e);
      EXPECT_LT(x.bytes_sent, g + 2 * e) << "an anchor got a second expert";
    } else {
      ++normals;
      EXPECT_LE(x.experts.size(), static_cast<size_t>(kTopK));
      EXPECT_LE(x.bytes_sent, 1.01 * (g + kTopK * e));
    }
  }
  EXPECT_EQ(anchors, 3 * 5) << "5 anchors in each of 3 rounds (share 0.5)";
  EXPECT_EQ(normals, 3 * 5);
  EXPECT_EQ(CountOf(log_.str(), "--anchor-share"), 0u) << log_.str();
}

// A share asking for more anchors than there are cannot give the experts
// more anchor steps: the run says so once, and the round fills up with
// normal clients.
TEST_F(FedJetsTest, AnAnchorShareBeyondTheAnchorsThereAreIsWarnedOnce) {
  auto o = Options("fedjets", 2);
  o.anchor_share = 0.8;
  auto s = RunFederation(o);
  int anchors = 0;
  for (const auto& x : s.exchanges) {
    anchors += x.role == coordinator::Role::kAnchor;
  }
  EXPECT_EQ(anchors, 2 * 5) << "every anchor, each round";
  EXPECT_EQ(s.exchanges.size(), 2u * 10);
  EXPECT_EQ(CountOf(log_.str(),
                    "--anchor-share 0.8 asks for 8 anchor clients in a "
                    "round of 10, but only 5 are free"),
            1u)
      << log_.str();
}

// Just-in-time clients served again and again while the rounds run, and
// aggregate on the worker thread, each get the gate and experts of one
// published snapshot, whole (issue #12, "Race"). Run under
// ThreadSanitizer by scripts/sanitize.sh thread.
TEST_F(FedJetsTest, ClientsServedWhileRoundsRunGetOnePublishedRoundWhole) {
  auto o = Options("fedjets", 4);
  o.linger = true;  // serving goes on until Stop()
  std::mutex mu;
  std::vector<std::shared_ptr<const coordinator::ModelSnapshot>> published;
  o.on_models_published =
      [&](std::shared_ptr<const coordinator::ModelSnapshot> s) {
        std::lock_guard lock(mu);
        published.push_back(std::move(s));
      };
  coordinator::Coordinator c(o);
  ASSERT_TRUE(c.Prepare().ok());
  common::Status st;
  std::thread coordinator_thread([&] { st = c.Run(); });
  std::atomic<bool> trained = false;
  std::vector<client::ClientResult> served;
  std::thread jit([&] {
    auto jit_opts = ClientOpts(c.port(), "client-1");
    jit_opts.serve = true;
    auto newcomer = Shards({kClients - 1}, kClients, "grouped", kExperts, 200);
    newcomer[0].name = "newcomer";
    do {
      for (auto& r : client::RunClients(jit_opts, newcomer)) {
        served.push_back(std::move(r));
      }
    } while (!trained);
  });
  for (const auto& r :
       client::RunClients(ClientOpts(c.port(), "client-0"), AllClients())) {
    EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
  }
  trained = true;
  jit.join();
  c.Stop();
  coordinator_thread.join();
  ASSERT_TRUE(st.ok()) << st.ToString();

  std::lock_guard lock(mu);
  ASSERT_EQ(published.size(), 5u) << "the initial models and 4 rounds'";
  std::map<int, int> serves_of_round;
  for (const auto& r : served) {
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    ASSERT_FALSE(r.jit_params.empty());
    // The snapshot every tensor the client got is equal to.
    std::optional<int> round;
    for (const auto& s : published) {
      std::map<std::string, std::string> bytes;
      for (const auto& p : s->All()) bytes[p.name] = p.bytes;
      if (std::all_of(
              r.jit_params.begin(), r.jit_params.end(),
              [&](const auto& p) { return bytes[p.name] == p.bytes; })) {
        round = s->round;
        break;
      }
    }
    ASSERT_TRUE(round) << "a client was served models of no single round";
    ++serves_of_round[*round];
  }
  std::string spread;
  for (const auto& [round, n] : serves_of_round) {
    spread += " round " + std::to_string(round) + ": " + std::to_string(n);
  }
  std::cout << served.size() << " clients served;" << spread << "\n";
  EXPECT_EQ(c.summary().served_clients, static_cast<int>(served.size()));
}

// --clip-norm bounds each client's whole delta (gate and experts), so one
// round of the mean moves the gate and each expert by at most the norm.
// The robust rules, noise and the norm bound run through the same path.
TEST_F(FedJetsTest, ClippingBoundsEachModelsStepAndRobustRulesRun) {
  constexpr double kClip = 0.01;
  auto o = Options("fedjets", 1);
  o.strategy.clip_norm = kClip;
  auto clipped = RunFederation(o);
  int moved = 0;
  std::vector<std::string> prefixes = {common::kGateWirePrefix};
  for (int q = 0; q < kExperts; ++q) {
    prefixes.push_back(common::ExpertWirePrefix(q));
  }
  for (const auto& prefix : prefixes) {
    auto step =
        common::DeltaL2Norm(common::TakePrefix(prefix, clipped.final_params),
                            common::TakePrefix(prefix, clipped.initial_params));
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    EXPECT_LE(*step, kClip * (1 + 1e-4)) << prefix;
    moved += *step > 0;
  }
  EXPECT_GT(moved, 0) << "nothing trained";

  o.strategy.aggregation = "trimmed-mean";
  o.strategy.dp_noise_multiplier = 0.5;
  o.strategy.max_update_norm = 1e6;
  auto robust = RunFederation(o);
  ASSERT_EQ(robust.rounds.size(), 1u);
  EXPECT_EQ(robust.rounds[0].clients_reported, 10);
  EXPECT_TRUE(robust.rounds[0].updates_rejected.empty());
  EXPECT_NE(robust.final_params[0].bytes, clipped.final_params[0].bytes);
}

}  // namespace
}  // namespace fedjets
