// The FedJETs federation the integration tests run: 15 clients of
// Fashion-MNIST on the grouped layout, 5 experts, top-2, MLP, CI-sized
// (tests/integration/fedjets_test.cc, fedjets_extensions_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/loopback_federation.h"

namespace fedjets {

constexpr int kClients = 15;
constexpr int kExperts = 5;
constexpr int kTopK = 2;

class FedJetsTest : public LoopbackFederationTest {
 protected:
  // Every federation of the suite has the same common expert (same
  // examples, model, budget and seed), so they share one pretraining
  // through the common-expert cache: the first one pretrains it, the
  // others load it. Under ctest, FEDJETS_TEST_COMMON_EXPERT_CACHE names a
  // folder emptied once per ctest run and shared by the suite's processes;
  // run directly, the binary uses a temporary folder of its own.
  static void SetUpTestSuite() {
    const char* shared = std::getenv("FEDJETS_TEST_COMMON_EXPERT_CACHE");
    owns_cache_dir_ = shared == nullptr || *shared == '\0';
    cache_dir_ = owns_cache_dir_ ? fs::temp_directory_path() /
                                       ("fedjets-common-expert-" +
                                        std::to_string(std::random_device{}()))
                                 : fs::path(shared);
  }
  static void TearDownTestSuite() {
    if (owns_cache_dir_) fs::remove_all(cache_dir_);
  }

  coordinator::CoordinatorOptions Options(const std::string& algorithm,
                                          int rounds) const {
    auto o = CoordinatorOpts(kClients, rounds);
    o.clients_per_round = 10;
    o.partition = "grouped";
    o.num_clients = kClients;
    auto& s = o.strategy;
    s.algorithm = algorithm;
    s.model_family = "mlp";
    s.model_hidden = 64;
    s.common_expert = "examples:3000:epochs:3";
    s.common_expert_cache = cache_dir_.string();
    s.num_experts = kExperts;
    s.top_k = kTopK;
    s.learning_rate = 0.01;
    s.batch_size = 32;
    s.eval_examples = 500;
    s.eval_examples_per_client = 300;
    s.finetune_epochs = 1;
    return o;
  }

  std::vector<client::LocalClient> AllClients() {
    std::vector<int> shards(kClients);
    std::iota(shards.begin(), shards.end(), 0);
    return Shards(shards, kClients, "grouped", kExperts, /*max_examples=*/300);
  }

  // Runs a whole federation; returns the coordinator's summary.
  coordinator::RunSummary RunFederation(
      const coordinator::CoordinatorOptions& o) {
    coordinator::Coordinator c(o);
    EXPECT_TRUE(c.Prepare().ok());
    common::Status st;
    std::thread t([&] { st = c.Run(); });
    for (const auto& r :
         client::RunClients(ClientOpts(c.port(), "client-0"), AllClients())) {
      EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
    }
    t.join();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return c.summary();
  }

  // A federation run with --linger: every client trains, then one that
  // never trained ("newcomer": held-out shard data, 200 examples) is
  // served just in time, and the coordinator stops.
  struct ServedRun {
    coordinator::RunSummary summary;
    client::ClientResult newcomer;
  };
  ServedRun RunAndServeNewcomer(coordinator::CoordinatorOptions o) {
    o.linger = true;
    coordinator::Coordinator c(o);
    common::Status st = c.Prepare();
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) return {};
    std::thread t([&] { st = c.Run(); });
    for (const auto& r :
         client::RunClients(ClientOpts(c.port(), "client-0"), AllClients())) {
      EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
    }
    auto jit_opts = ClientOpts(c.port(), "client-1");
    jit_opts.serve = true;
    auto newcomer = Shards({kClients - 1}, kClients, "grouped", kExperts, 200);
    newcomer[0].name = "newcomer";
    auto served = client::RunClients(jit_opts, newcomer);
    c.Stop();
    t.join();
    EXPECT_TRUE(st.ok()) << st.ToString();
    ServedRun out{c.summary(), {}};
    EXPECT_EQ(served.size(), 1u);
    if (!served.empty()) out.newcomer = std::move(served[0]);
    return out;
  }

  static inline fs::path cache_dir_;
  static inline bool owns_cache_dir_ = false;
};

}  // namespace fedjets
