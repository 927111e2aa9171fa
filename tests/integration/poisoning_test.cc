// Poisoning on Fashion-MNIST (issue #12's acceptance test), with real
// processes over loopback mutual TLS: fedjets-coordinator, four honest
// fedjets-client processes and two attacker_client processes, one sending
// NaN, one sending its trained delta scaled x1000 while claiming 100x the
// samples it holds (in its Hello too, so the sample check lets it through).
// With update checks and the trimmed mean the run ends within 2 points of
// the same run without attackers; with the checks off and the plain mean
// it collapses, and with the checks but the plain mean the scaled update
// alone still ruins it. All are asserted, so the test proves the defence.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/base/subprocess.h"
#include "common/net/certs.h"
#include "coordinator/metrics/events.h"
#include "tests/common/base/temp_dir.h"

namespace fedjets {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kFashionMnist[] = "/usr/share/datasets/fashion-mnist";
constexpr int kHonest = 4;
constexpr int kRounds = 3;
// Every process gets this long; the coordinator's own deadlines end a
// stuck run well before.
constexpr auto kRunDeadline = std::chrono::minutes(8);

struct RunOutcome {
  double final_accuracy = -1;  // of the last eval event; -1 without one
  std::map<std::string, int> rejected;  // summed over rounds, by reason
  std::map<std::string, int> updates_by_client;
  std::vector<int> honest_exit_codes;
  int coordinator_exit = -1;
  std::string coordinator_log;
};

class PoisoningTest : public testutil::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    ASSERT_TRUE(fs::exists(kFashionMnist))
        << kFashionMnist << " is missing: run scripts/install-deps.sh";
    std::error_code ec;
    bin_ = fs::read_symlink("/proc/self/exe", ec).parent_path();
    ASSERT_FALSE(ec) << ec.message();
    for (const char* b :
         {"fedjets-coordinator", "fedjets-client", "attacker_client"}) {
      ASSERT_TRUE(fs::exists(bin_ / b)) << b << " not built in " << bin_;
    }
    ASSERT_TRUE(common::GenerateRunCertificates(dir_ / "certs", kHonest + 2,
                                                {"localhost", "127.0.0.1"})
                    .ok());
  }

  std::vector<std::string> Tls(const std::string& node) const {
    const fs::path c = dir_ / "certs";
    return {"--ca",   (c / "ca.pem").string(),
            "--cert", (c / (node + ".pem")).string(),
            "--key",  (c / (node + ".key")).string()};
  }

  // Data flags every client shares: shard `shard` of 6 IID shards.
  std::vector<std::string> Shard(int shard) const {
    return {"--data",   kFashionMnist,         "--num-shards",   "6",
            "--shards", std::to_string(shard), "--max-examples", "500"};
  }

  // One run of kRounds FedAvg rounds; `attackers` adds the two attackers.
  RunOutcome Federate(const std::string& name,
                      const std::vector<std::string>& coordinator_flags,
                      bool attackers) {
    const fs::path run = dir_ / name;
    fs::create_directories(run);
    const fs::path port_file = run / "port";
    std::vector<std::string> c = {(bin_ / "fedjets-coordinator").string(),
                                  "--host",
                                  "127.0.0.1",
                                  "--port",
                                  "0",
                                  "--port-file",
                                  port_file.string(),
                                  "--run-dir",
                                  run.string(),
                                  "--rounds",
                                  std::to_string(kRounds),
                                  "--min-clients",
                                  std::to_string(kHonest + (attackers ? 2 : 0)),
                                  "--data",
                                  kFashionMnist,
                                  "--eval-examples",
                                  "2000",
                                  "--lr",
                                  "0.05",
                                  "--batch-size",
                                  "32",
                                  "--hidden",
                                  "64",
                                  "--threads",
                                  "1",
                                  "--round-timeout",
                                  "240",
                                  "--wait-timeout",
                                  "240"};
    c.insert(c.end(), coordinator_flags.begin(), coordinator_flags.end());
    for (auto& a : Tls("coordinator")) c.push_back(a);
    std::vector<pid_t> pids;
    auto coordinator = Spawn(c, run / "coordinator.log");
    pids.push_back(coordinator);

    std::string port;
    const auto deadline = Clock::now() + kRunDeadline;
    while (port.empty() && Clock::now() < deadline) {
      std::ifstream(port_file) >> port;
      auto exited = common::PollExit(coordinator);
      if (!exited.ok() || exited->has_value()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    RunOutcome out;
    if (port.empty()) {
      ADD_FAILURE() << "the coordinator never listened: "
                    << testutil::ReadFile(run / "coordinator.log");
      KillAll(pids);
      return out;
    }
    auto client_args = [&](const std::string& program, int shard) {
      std::vector<std::string> a = {(bin_ / program).string(), "--port", port};
      for (auto& s : Shard(shard)) a.push_back(s);
      for (auto& s : Tls(common::ClientCertName(shard))) a.push_back(s);
      return a;
    };
    for (int i = 0; i < kHonest; ++i) {
      auto a = client_args("fedjets-client", i);
      for (const char* s : {"--server-name", "localhost", "--threads", "1",
                            "--idle-timeout", "300"}) {
        a.push_back(s);
      }
      pids.push_back(Spawn(a, run / fmt::format("client-{}.log", i)));
    }
    if (attackers) {
      auto nan = client_args("attacker_client", kHonest);
      nan.insert(nan.end(), {"--attack", "nan"});
      pids.push_back(Spawn(nan, run / "attacker-nan.log"));
      auto scale = client_args("attacker_client", kHonest + 1);
      scale.insert(scale.end(), {"--attack", "scale", "--scale", "1000",
                                 "--declared-samples", "50000"});
      pids.push_back(Spawn(scale, run / "attacker-scale.log"));
    }

    out.coordinator_exit = WaitUntil(coordinator, deadline);
    for (size_t i = 1; i < pids.size(); ++i) {
      const int code =
          WaitUntil(pids[i], Clock::now() + std::chrono::seconds(60));
      if (i <= static_cast<size_t>(kHonest)) {
        out.honest_exit_codes.push_back(code);
      }
    }
    out.coordinator_log = testutil::ReadFile(run / "coordinator.log");
    std::ifstream metrics(run / "metrics.jsonl");
    for (std::string line; std::getline(metrics, line);) {
      auto e = coordinator::ParseEvent(line);
      if (!e.ok()) continue;
      if (const auto* eval = std::get_if<coordinator::EvalEvent>(&*e)) {
        out.final_accuracy = eval->test_accuracy;
      } else if (const auto* r = std::get_if<coordinator::RoundEvent>(&*e)) {
        for (const auto& [reason, n] :
             r->updates_rejected.value_or(std::map<std::string, int>{})) {
          out.rejected[reason] += n;
        }
      } else if (const auto* u = std::get_if<coordinator::UpdateEvent>(&*e)) {
        ++out.updates_by_client[u->client];
      }
    }
    if (out.final_accuracy < 0 || out.coordinator_exit != 0) {
      ADD_FAILURE() << name << ": coordinator exited with "
                    << out.coordinator_exit << ":\n"
                    << out.coordinator_log;
    }
    return out;
  }

  pid_t Spawn(const std::vector<std::string>& argv, const fs::path& log) {
    common::SpawnOptions o;
    o.log_file = log.string();
    auto pid = common::Spawn(argv, o);
    EXPECT_TRUE(pid.ok()) << pid.status().ToString();
    return pid.ok() ? *pid : -1;
  }

  // The exit code of `pid`, or -1 after killing it at `deadline`.
  static int WaitUntil(pid_t pid, Clock::time_point deadline) {
    if (pid <= 0) return -1;
    while (Clock::now() < deadline) {
      auto exited = common::PollExit(pid);
      if (!exited.ok()) return -1;
      if (exited->has_value()) return **exited;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid, SIGKILL);
    (void)common::WaitForExit(pid);
    ADD_FAILURE() << "process " << pid << " killed at the deadline";
    return -1;
  }

  static void KillAll(const std::vector<pid_t>& pids) {
    for (pid_t p : pids) {
      if (p <= 0) continue;
      ::kill(p, SIGKILL);
      (void)common::WaitForExit(p);
    }
  }

  fs::path bin_;
};

TEST_F(PoisoningTest, ChecksAndTrimmedMeanHoldAccuracyWhereUncheckedMeanFails) {
  const RunOutcome clean = Federate("clean", {}, /*attackers=*/false);
  RunOutcome defended = Federate(
      "defended", {"--aggregation", "trimmed-mean", "--trim-fraction", "0.2"},
      /*attackers=*/true);
  RunOutcome checks_only = Federate("checks-only", {}, /*attackers=*/true);
  const RunOutcome undefended =
      Federate("undefended", {"--no-update-checks"}, /*attackers=*/true);
  std::cout << fmt::format(
      "final test accuracy: clean {:.2f}%, checks + trimmed mean {:.2f}%, "
      "checks + mean {:.2f}%, no checks + mean {:.2f}%\n",
      100 * clean.final_accuracy, 100 * defended.final_accuracy,
      100 * checks_only.final_accuracy, 100 * undefended.final_accuracy);

  const std::vector<int> all_finished(kHonest, 0);
  EXPECT_EQ(clean.honest_exit_codes, all_finished);
  ASSERT_GT(clean.final_accuracy, 0.4) << "the clean run did not learn";
  // Defended: the NaN update is refused in round 1, the scaled one is
  // accepted every round and trimmed away coordinate by coordinate.
  EXPECT_EQ(defended.rejected, (std::map<std::string, int>{{"non_finite", 1}}));
  EXPECT_EQ(defended.updates_by_client["client-5"], kRounds)
      << "the scaled attacker should pass the checks: the trimmed mean is "
         "what stops it";
  EXPECT_NE(defended.coordinator_log.find("rejected in round 1"),
            std::string::npos)
      << defended.coordinator_log;
  EXPECT_NEAR(defended.final_accuracy, clean.final_accuracy, 0.02);
  EXPECT_EQ(defended.honest_exit_codes, all_finished);
  // The checks alone stop the NaN but not the scaled update: the weighted
  // mean lets its claimed samples and its size take the model over (and
  // the honest clients, training from that model, then report a
  // non-finite loss and are refused in turn).
  EXPECT_EQ(checks_only.rejected.count("non_finite"), 1u);
  EXPECT_GE(checks_only.updates_by_client["client-5"], 1);
  EXPECT_LT(checks_only.final_accuracy, clean.final_accuracy - 0.20);
  // Undefended: nothing is refused and the model is ruined.
  EXPECT_TRUE(undefended.rejected.empty());
  EXPECT_EQ(undefended.honest_exit_codes, all_finished);
  EXPECT_NE(undefended.coordinator_log.find("--no-update-checks"),
            std::string::npos);
  EXPECT_TRUE(std::isnan(undefended.final_accuracy) ||
              undefended.final_accuracy < clean.final_accuracy - 0.20)
      << "undefended " << undefended.final_accuracy << ", clean "
      << clean.final_accuracy;
}

}  // namespace
}  // namespace fedjets
