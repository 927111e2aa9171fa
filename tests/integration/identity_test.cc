// Identity at admission over real loopback mutual TLS (docs/PROTOCOL.md,
// "Identity"): a Hello naming a client the certificate does not grant is
// refused, a second live connection with one name is refused, and an
// allow-list admits only its names and anchors, while the honest clients
// finish the run.
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/integration/loopback_federation.h"

namespace fedjets {
namespace {

class IdentityTest : public LoopbackFederationTest {
 protected:
  std::string WriteAllowList(const std::string& text) {
    const fs::path path = dir_ / "allow.txt";
    std::ofstream(path) << text;
    return path.string();
  }

  static void ExpectRefused(const std::vector<client::ClientResult>& results,
                            const std::string& why) {
    ASSERT_EQ(results.size(), 1u);
    EXPECT_FALSE(results[0].status.ok());
    EXPECT_NE(results[0].status.message().find(why), std::string::npos)
        << results[0].status.ToString();
    EXPECT_EQ(results[0].rounds_trained, 0);
  }

  static void ExpectFinished(const std::vector<client::ClientResult>& results,
                             int rounds) {
    for (const auto& r : results) {
      EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
      EXPECT_EQ(r.rounds_trained, rounds) << r.name;
    }
  }
};

TEST_F(IdentityTest, HelloNamingAnotherIdentityIsRefused) {
  coordinator::Coordinator c(CoordinatorOpts(/*min_clients=*/2, /*rounds=*/2));
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  // The hostile clients' certificate grants "attacker" only.
  auto impostor = Shards({0}, 3);
  ExpectRefused(client::RunClients(ClientOpts(c.port(), "client-2"), impostor),
                "Hello names client 'client-0', but the certificate it "
                "connected with (CN \"client-2\") grants its CN and 1 other "
                "client names");

  auto results =
      client::RunClients(ClientOpts(c.port(), "client-0"), Shards({0, 1}, 3));
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  ExpectFinished(results, 2);
  EXPECT_EQ(c.summary().rejected_connections, 1);
  EXPECT_NE(log_.str().find(
                ": PERMISSION_DENIED: Hello names client 'client-0', but the "
                "certificate it connected with (CN \"client-2\")"),
            std::string::npos)
      << log_.str();
}

TEST_F(IdentityTest, SecondLiveConnectionWithTheSameNameIsRefused) {
  coordinator::Coordinator c(CoordinatorOpts(/*min_clients=*/2, /*rounds=*/2));
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  // Two processes host client-0, each with a certificate that grants it.
  // Rounds wait for client-1, which starts only after one of the two was
  // refused: the other holds the name while it is refused.
  std::mutex mu;
  std::condition_variable refused;
  int done = 0;
  std::vector<client::ClientResult> twins[2];
  std::thread twin_threads[2];
  for (int i = 0; i < 2; ++i) {
    twin_threads[i] = std::thread([&, i] {
      auto r = client::RunClients(
          ClientOpts(c.port(), i == 0 ? "client-0" : "client-1"),
          Shards({0}, 3));
      std::lock_guard lock(mu);
      twins[i] = std::move(r);
      ++done;
      refused.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(refused.wait_for(lock, 120s, [&] { return done > 0; }))
        << "neither connection of client-0 was refused";
  }
  auto other =
      client::RunClients(ClientOpts(c.port(), "client-0"), Shards({1}, 3));
  for (auto& t : twin_threads) t.join();
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  ExpectFinished(other, 2);
  const int loser = twins[0][0].status.ok() ? 1 : 0;
  ExpectRefused(twins[loser], "client 'client-0' already has a live session");
  ExpectFinished(twins[1 - loser], 2);
  EXPECT_EQ(c.summary().rejected_connections, 1);
}

TEST_F(IdentityTest, AllowListRefusesAnUnlistedName) {
  auto o = CoordinatorOpts(/*min_clients=*/2, /*rounds=*/1);
  o.allow_list = WriteAllowList("# the study's sites\nclient-0\nclient-1\n");
  coordinator::Coordinator c(o);
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  ExpectRefused(
      client::RunClients(ClientOpts(c.port(), "client-0"), Shards({2}, 3)),
      "client 'client-2' is not on the allow-list " + o.allow_list);
  auto results =
      client::RunClients(ClientOpts(c.port(), "client-0"), Shards({0, 1}, 3));
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  ExpectFinished(results, 1);
  EXPECT_EQ(c.summary().rejected_connections, 1);
}

TEST_F(IdentityTest, AllowListRefusesAClaimedAnchorItDoesNotGive) {
  auto o = CoordinatorOpts(/*min_clients=*/2, /*rounds=*/1);
  o.strategy.algorithm = "fedjets";
  o.strategy.model_family = "mlp";
  o.strategy.common_expert = "examples:500:epochs:1";
  o.strategy.num_experts = 2;
  o.strategy.top_k = 1;
  o.strategy.eval_examples = 300;
  o.allow_list = WriteAllowList("client-0 0\nclient-1 1\nclient-2\n");
  coordinator::Coordinator c(o);
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  auto usurper = Shards({2}, 3);
  usurper[0].anchor_expert = 1;  // would train expert 1 as its anchor
  ExpectRefused(client::RunClients(ClientOpts(c.port(), "client-0"), usurper),
                "client 'client-2' declares anchor expert 1, but the "
                "allow-list " +
                    o.allow_list + ":3 gives it no anchor");
  auto results = client::RunClients(ClientOpts(c.port(), "client-0"),
                                    Shards({0, 1}, 3, "iid", 2));
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  ExpectFinished(results, 1);
}

TEST_F(IdentityTest, MalformedAllowListStopsTheStartNamingFileAndLine) {
  auto o = CoordinatorOpts(1, 1);
  o.allow_list = WriteAllowList("client-0\nclient-1 one\n");
  coordinator::Coordinator c(o);
  common::Status st = c.Prepare();
  EXPECT_EQ(st.code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(o.allow_list + ":2: anchor \"one\""),
            std::string::npos)
      << st.ToString();
}

}  // namespace
}  // namespace fedjets
