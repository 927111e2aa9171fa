// A coordinator and clients in one test process over real loopback
// sockets and real mutual TLS, with certificates made per test.
#pragma once

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <random>
#include <sstream>

#include "client/client.h"
#include "client/local_data.h"
#include "common/net/certs.h"
#include "coordinator/coordinator.h"
#include "coordinator/metrics/events.h"

namespace fedjets {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// How often `needle` occurs in `text` (a log).
inline size_t CountOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

constexpr char kFashionMnist[] = "/usr/share/datasets/fashion-mnist";

class LoopbackFederationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kFashionMnist))
        << kFashionMnist << " is missing: run scripts/install-deps.sh";
    torch::set_num_threads(1);
    dir_ = fs::temp_directory_path() /
           ("fedjets-fed-" + std::to_string(std::random_device{}()));
    ASSERT_TRUE(common::GenerateRunCertificates(dir_ / "certs", ClientCerts(),
                                                {"localhost", "127.0.0.1"})
                    .ok());
    log_sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    spdlog::default_logger()->sinks().push_back(log_sink_);
  }
  void TearDown() override {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), log_sink_),
                sinks.end());
    fs::remove_all(dir_);
  }

  // The client certificates, and the names each grants besides its CN
  // (the coordinator admits only those, docs/PROTOCOL.md "Identity"):
  // "client-0" and "client-1" host any shard's client (client-0 ..
  // client-15) and the just-in-time "newcomer"; "client-2" is the
  // hostile clients' and grants "attacker".
  static std::vector<common::ClientCertSpec> ClientCerts() {
    std::vector<std::string> honest = {"newcomer"};
    for (int i = 0; i < 16; ++i)
      honest.push_back("client-" + std::to_string(i));
    return {
        {"client-0", honest}, {"client-1", honest}, {"client-2", {"attacker"}}};
  }

  common::TlsFiles Files(const std::string& node) const {
    const fs::path c = dir_ / "certs";
    return {(c / "ca.pem").string(), (c / (node + ".pem")).string(),
            (c / (node + ".key")).string()};
  }

  coordinator::CoordinatorOptions CoordinatorOpts(int min_clients,
                                                  int rounds) const {
    coordinator::CoordinatorOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.tls = Files("coordinator");
    o.rounds = rounds;
    o.min_clients = min_clients;
    o.strategy.eval_examples = 1000;
    o.strategy.batch_size = 32;
    o.strategy.learning_rate = 0.05;
    o.strategy.model_hidden = 64;
    o.run_dir = (dir_ / "run").string();
    o.print_table = false;
    o.wait_clients_timeout = 60s;
    return o;
  }

  client::ClientOptions ClientOpts(uint16_t port,
                                   const std::string& node) const {
    client::ClientOptions o;
    o.host = "127.0.0.1";
    o.server_name = "localhost";
    o.port = port;
    o.tls = Files(node);
    o.connect_timeout = 10s;
    o.idle_timeout = 120s;
    return o;
  }

  std::vector<client::LocalClient> Shards(std::vector<int> shards,
                                          int num_shards,
                                          const std::string& partition = "iid",
                                          int num_experts = 0,
                                          int64_t max_examples = 500) {
    client::DataOptions d;
    d.data.path = kFashionMnist;
    d.num_shards = num_shards;
    d.shards = std::move(shards);
    d.partition = partition;
    d.num_experts = num_experts;
    d.max_examples_per_client = max_examples;
    auto local = client::LoadLocalClients(d);
    EXPECT_TRUE(local.ok()) << local.status().ToString();
    return std::move(*local);
  }

  // The update_rejected events in the text of a metrics.jsonl, in order.
  static std::vector<coordinator::UpdateRejectedEvent> RejectionsIn(
      const std::string& metrics) {
    std::vector<coordinator::UpdateRejectedEvent> out;
    std::istringstream lines(metrics);
    for (std::string line; std::getline(lines, line);) {
      auto e = coordinator::ParseEvent(line);
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      if (!e.ok()) continue;
      if (auto* r = std::get_if<coordinator::UpdateRejectedEvent>(&*e)) {
        out.push_back(*r);
      }
    }
    return out;
  }

  // Whether `metrics` (a metrics.jsonl's text) records exactly one refused
  // update: `client`'s in `round`, for `reason`, with `message_part` in
  // its message.
  static ::testing::AssertionResult RecordsOneRejection(
      const std::string& metrics, int round, const std::string& client,
      const std::string& reason, const std::string& message_part) {
    const auto found = RejectionsIn(metrics);
    if (found.size() != 1) {
      return ::testing::AssertionFailure()
             << found.size() << " update_rejected events in\n"
             << metrics;
    }
    const auto& r = found[0];
    if (r.round != round || r.client != client || r.reason != reason ||
        r.message.find(message_part) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "recorded " << coordinator::EventLine(r);
    }
    return ::testing::AssertionSuccess();
  }

  fs::path dir_;
  std::ostringstream log_;
  spdlog::sink_ptr log_sink_;
};

}  // namespace fedjets
