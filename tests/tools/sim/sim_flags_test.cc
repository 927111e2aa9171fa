#include "tools/sim/sim_flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/common/data/csv_test_util.h"

namespace fedjets::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

SimOptions FedJets() {
  SimOptions o;
  o.strategy.algorithm = "fedjets";
  return o;
}

TEST(ApplyAlgorithmDefaultsTest, FedAvgKeepsEveryDefault) {
  SimOptions o;
  EXPECT_THAT(ApplyAlgorithmDefaults(o, {}), IsEmpty());
  SimOptions untouched;
  EXPECT_EQ(o.clients, untouched.clients);
  EXPECT_EQ(o.processes, untouched.processes);
  EXPECT_EQ(o.rounds, untouched.rounds);
  EXPECT_EQ(o.clients_per_round, untouched.clients_per_round);
  EXPECT_EQ(o.partition, untouched.partition);
  EXPECT_EQ(o.anchor_share, untouched.anchor_share);
  EXPECT_EQ(o.strategy, untouched.strategy);
}

TEST(ApplyAlgorithmDefaultsTest, FedJetsAloneGetsThePaperProtocolLayout) {
  SimOptions o = FedJets();
  const auto chosen = ApplyAlgorithmDefaults(o, {"--algorithm"});
  EXPECT_EQ(o.clients, 100);
  EXPECT_EQ(o.processes, 2);
  EXPECT_EQ(o.clients_per_round, 10);
  EXPECT_EQ(o.partition, "grouped");
  EXPECT_EQ(o.anchor_share, 0.5);
  EXPECT_EQ(o.strategy.common_expert, "weak");
  EXPECT_EQ(o.strategy.num_experts, 5);
  EXPECT_EQ(o.strategy.top_k, 2);
  EXPECT_EQ(o.strategy.model_family, "mlp");
  EXPECT_EQ(o.strategy.learning_rate, 0.01);
  EXPECT_EQ(o.strategy.momentum, 0.9);
  EXPECT_EQ(o.strategy.gate_lr, 0.1);
  EXPECT_GT(o.rounds, 0);
  EXPECT_LE(o.rounds, 100);
  EXPECT_THAT(chosen,
              ElementsAre("--clients 100", "--processes 2",
                          "--rounds " + std::to_string(o.rounds),
                          "--clients-per-round 10", "--partition grouped",
                          "--lr 0.01", "--momentum 0.9", "--common-expert weak",
                          "--num-experts 5", "--top-k 2", "--gate-lr 0.1",
                          "--model mlp", "--anchor-share 0.5"));
}

TEST(ApplyAlgorithmDefaultsTest, GivenFlagsKeepTheirValues) {
  SimOptions o = FedJets();
  o.clients = 4;
  o.rounds = 2;
  o.strategy.common_expert = "none";
  const auto chosen = ApplyAlgorithmDefaults(
      o, {"--algorithm", "--clients", "--rounds", "--common-expert"});
  // Kept, so that RunSimulation still names the conflict (4 clients, 5
  // anchors; no common expert).
  EXPECT_EQ(o.clients, 4);
  EXPECT_EQ(o.rounds, 2);
  EXPECT_EQ(o.strategy.common_expert, "none");
  EXPECT_EQ(o.partition, "grouped");
  for (const auto& c : chosen) {
    EXPECT_FALSE(c.starts_with("--clients ")) << c;
    EXPECT_FALSE(c.starts_with("--rounds ")) << c;
    EXPECT_FALSE(c.starts_with("--common-expert ")) << c;
  }
}

class SimFlagsTest : public common::TempDirTest {
 protected:
  // Parses `args` (after the program name) as fedjets-sim would.
  std::set<std::string> Parse(std::vector<std::string> args) {
    AddSimFlags(app_, options_);
    args.insert(args.begin(), "fedjets-sim");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    app_.parse(static_cast<int>(argv.size()), argv.data());
    return GivenFlags(app_);
  }

  CLI::App app_;
  SimOptions options_;
};

TEST_F(SimFlagsTest, CommandLineFlagsAreGivenAndDefaultsAreNot) {
  const auto given = Parse({"--algorithm", "fedjets", "--clients", "12"});
  EXPECT_TRUE(given.contains("--algorithm"));
  EXPECT_TRUE(given.contains("--clients"));
  EXPECT_FALSE(given.contains("--rounds"));
  EXPECT_FALSE(given.contains("--partition"));
  EXPECT_EQ(options_.clients, 12);
}

TEST_F(SimFlagsTest, MetricsEndpointIsOffUnlessAPortIsGiven) {
  EXPECT_EQ(options_.metrics_port, 0);
  Parse({"--metrics-port", "9464", "--metrics-address", "0.0.0.0"});
  EXPECT_EQ(options_.metrics_port, 9464);
  EXPECT_EQ(options_.metrics_address, "0.0.0.0");
}

TEST_F(SimFlagsTest, ValidationClientsAreOffUnlessAsked) {
  Parse({});
  EXPECT_EQ(options_.validation_clients, 0);
  EXPECT_EQ(options_.validation_fraction, 0.1);
}

TEST_F(SimFlagsTest, ValidationFlagsReachTheOptions) {
  Parse({"--validation-clients", "3", "--validation-fraction", "0.2"});
  EXPECT_EQ(options_.validation_clients, 3);
  EXPECT_EQ(options_.validation_fraction, 0.2);
}

TEST_F(SimFlagsTest, QuorumFlagsReachTheOptions) {
  EXPECT_EQ(SimOptions{}.quorum.min_updates, 1);
  EXPECT_EQ(SimOptions{}.quorum.max_failed_rounds, 5);
  Parse({"--min-updates", "3", "--min-update-fraction", "0.5",
         "--max-failed-rounds", "2"});
  EXPECT_EQ(options_.quorum.min_updates, 3);
  EXPECT_EQ(options_.quorum.min_update_fraction, 0.5);
  EXPECT_EQ(options_.quorum.max_failed_rounds, 2);
}

TEST_F(SimFlagsTest, FlagsFromTheConfigFileCountAsGiven) {
  const std::string ini = Write("sim.ini",
                                "algorithm=\"fedjets\"\n"
                                "clients=20\n"
                                "partition=\"grouped\"\n");
  const auto given = Parse({"--config", ini});
  EXPECT_TRUE(given.contains("--clients"));
  EXPECT_TRUE(given.contains("--partition"));
  EXPECT_FALSE(given.contains("--clients-per-round"));
  ApplyAlgorithmDefaults(options_, given);
  EXPECT_EQ(options_.clients, 20);
  EXPECT_EQ(options_.clients_per_round, 10);
}

}  // namespace
}  // namespace fedjets::coordinator
