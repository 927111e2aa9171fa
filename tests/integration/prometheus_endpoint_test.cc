// The coordinator's Prometheus endpoint over real loopback sockets: /metrics
// read with a plain HTTP GET while a federation runs, checked against what
// the run itself recorded, and Debian's prometheus server scraping it and
// answering a query through its HTTP API (docs/OPERATIONS.md).
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/base/subprocess.h"
#include "coordinator/metrics/events.h"
#include "coordinator/metrics/metrics_server.h"
#include "tests/coordinator/metrics/prometheus_text.h"
#include "tests/integration/http_get.h"
#include "tests/integration/loopback_federation.h"

namespace fedjets {
namespace {

using testutil::HttpGet;
using testutil::SampleValue;

constexpr char kPrometheus[] = "/usr/bin/prometheus";

class PrometheusEndpointTest : public LoopbackFederationTest {
 protected:
  // /metrics as the coordinator serves it now.
  static std::string Scrape(const coordinator::Coordinator& c) {
    auto r = HttpGet(c.metrics_port(), "/metrics");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 200);
    return r->body;
  }

  // The sample's value; NaN (and a failure) when /metrics lacks it.
  static double Value(const std::string& text, const std::string& series) {
    auto v = SampleValue(text, series);
    EXPECT_TRUE(v.has_value()) << series << " missing from:\n" << text;
    return v.value_or(std::nan(""));
  }

  // Scrapes until `series` reads `want`, for at most 30 s.
  static bool WaitForValue(const coordinator::Coordinator& c,
                           const std::string& series, double want) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = HttpGet(c.metrics_port(), "/metrics");
      if (r.ok() && SampleValue(r->body, series) == want) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // The run's metrics.jsonl events.
  std::vector<coordinator::Event> RunEvents() const {
    std::ifstream in(dir_ / "run" / "metrics.jsonl");
    std::vector<coordinator::Event> events;
    for (std::string line; std::getline(in, line);) {
      auto e = coordinator::ParseEvent(line);
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      if (e.ok()) events.push_back(std::move(*e));
    }
    return events;
  }

  // A small FedJETs federation: the layout of fedjets_test.cc, fewer rounds.
  coordinator::CoordinatorOptions FedJetsOptions(int clients, int experts,
                                                 int rounds) const {
    auto o = CoordinatorOpts(clients, rounds);
    o.clients_per_round = 10;
    o.partition = "grouped";
    o.num_clients = clients;
    auto& s = o.strategy;
    s.algorithm = "fedjets";
    s.model_family = "mlp";
    s.common_expert = "examples:3000:epochs:3";
    s.num_experts = experts;
    s.top_k = 2;
    s.learning_rate = 0.01;
    s.eval_examples = 500;
    s.eval_examples_per_client = 300;
    return o;
  }
};

TEST_F(PrometheusEndpointTest, FedJetsRunIsScrapedAsItRuns) {
  constexpr int kClients = 15, kExperts = 5, kRounds = 2;
  auto o = FedJetsOptions(kClients, kExperts, kRounds);
  o.metrics_port = 0;  // any free port
  o.linger = true;     // the run stays up, serving, after its last round
  coordinator::Coordinator c(o);
  ASSERT_TRUE(c.Prepare().ok());
  ASSERT_NE(c.metrics_port(), 0);
  const std::string before = Scrape(c);
  EXPECT_EQ(Value(before, "fedjets_rounds_total"), 0);
  EXPECT_EQ(Value(before, "fedjets_clients_connected"), 0);

  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  std::vector<int> shards(kClients);
  std::iota(shards.begin(), shards.end(), 0);
  auto clients = Shards(shards, kClients, "grouped", kExperts, 300);
  std::vector<client::LocalClient> last = {clients.back()};
  clients.pop_back();
  // Round 1 waits for every client: the gauge counts those that joined.
  std::vector<client::ClientResult> results;
  std::thread early([&] {
    results = client::RunClients(ClientOpts(c.port(), "client-0"), clients);
  });
  EXPECT_TRUE(WaitForValue(c, "fedjets_clients_connected", kClients - 1));
  auto last_result = client::RunClients(ClientOpts(c.port(), "client-1"), last);
  early.join();
  results.push_back(last_result.at(0));
  for (const auto& r : results) {
    EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
  }
  const std::string during = Scrape(c);  // lingering: the run is still up
  c.Stop();
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  EXPECT_EQ(Value(Scrape(c), "fedjets_clients_connected"), 0)
      << "every client was sent its goodbye";

  // What /metrics said is what the run recorded in metrics.jsonl.
  const auto& summary = c.summary();
  ASSERT_EQ(summary.rounds.size(), static_cast<size_t>(kRounds));
  EXPECT_EQ(Value(during, "fedjets_rounds_total"), kRounds);
  EXPECT_EQ(Value(during, "fedjets_round_duration_seconds_count"), kRounds);
  EXPECT_NEAR(Value(during, "fedjets_round_duration_seconds_sum"),
              summary.rounds[0].seconds + summary.rounds[1].seconds, 1e-9);
  EXPECT_EQ(Value(during, "fedjets_clients_sampled"), 10);
  EXPECT_EQ(Value(during, "fedjets_clients_reported"),
            summary.rounds.back().clients_reported);
  EXPECT_EQ(Value(during, "fedjets_updates_total"), summary.exchanges.size());
  EXPECT_EQ(Value(during, R"(fedjets_run_info{algorithm="fedjets",run_id=")" +
                              summary.run_id + "\"}"),
            1);
  EXPECT_NEAR(Value(during, "fedjets_unseen_accuracy"),
              summary.final_unseen_accuracy, 1e-12);
  EXPECT_EQ(during.find("fedjets_updates_rejected_total{"), std::string::npos)
      << "no update was rejected";

  uint64_t round_sent = 0, round_received = 0;
  std::map<int, double> expert_clients, expert_samples;
  std::vector<int> last_load;
  for (const auto& event : RunEvents()) {
    if (auto* u = std::get_if<coordinator::UpdateEvent>(&event)) {
      for (int e : u->experts) {
        expert_clients[e] += 1;
        expert_samples[e] += static_cast<double>(u->samples);
      }
    } else if (auto* r = std::get_if<coordinator::RoundEvent>(&event)) {
      round_sent += r->bytes_sent;
      round_received += r->bytes_received;
      ASSERT_TRUE(r->expert_load.has_value());
      last_load = *r->expert_load;
    }
  }
  ASSERT_EQ(last_load.size(), static_cast<size_t>(kExperts));
  for (int e = 0; e < kExperts; ++e) {
    const std::string label = "{expert=\"" + std::to_string(e) + "\"}";
    EXPECT_EQ(Value(during, "fedjets_expert_load" + label), last_load[e]);
    EXPECT_EQ(Value(during, "fedjets_expert_clients_total" + label),
              expert_clients[e]);
    EXPECT_EQ(Value(during, "fedjets_expert_samples_total" + label),
              expert_samples[e]);
  }
  // Every byte of the rounds, plus admission, the common expert and the
  // goodbyes, which no round event counts.
  EXPECT_GT(Value(during, "fedjets_bytes_sent_total"), round_sent);
  EXPECT_GT(Value(during, "fedjets_bytes_received_total"), round_received);
}

// Every update of the round is refused, so its one attempt falls below
// quorum and, with --max-failed-rounds 1, the run stops there: the
// refusals are counted by reason from the round_failed event.
TEST_F(PrometheusEndpointTest, RejectedUpdatesAreCountedByReason) {
  auto o = CoordinatorOpts(/*min_clients=*/2, /*rounds=*/1);
  o.strategy.learning_rate = 1e30;  // every update comes back non-finite
  o.quorum.max_failed_rounds = 1;
  o.metrics_port = 0;
  coordinator::Coordinator c(o);
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  client::RunClients(ClientOpts(c.port(), "client-0"), Shards({0, 1}, 2));
  coordinator_thread.join();
  ASSERT_FALSE(run_status.ok()) << "the run should stop below quorum";
  ASSERT_TRUE(c.summary().below_quorum) << run_status.ToString();
  const std::string text = Scrape(c);
  EXPECT_EQ(
      Value(text, "fedjets_updates_rejected_total{reason=\"non_finite_loss\"}"),
      2)
      << text;
  EXPECT_EQ(Value(text, "fedjets_round_attempts_failed_total"), 1);
  EXPECT_EQ(Value(text, "fedjets_rounds_total"), 0);
  EXPECT_EQ(Value(text, "fedjets_updates_total"), 0);
}

TEST_F(PrometheusEndpointTest, EndpointThatCannotListenFailsPrepare) {
  auto o = CoordinatorOpts(1, 1);
  coordinator::Coordinator without(o);
  ASSERT_TRUE(without.Prepare().ok());
  EXPECT_EQ(without.metrics_port(), 0) << "off unless asked for";

  o.metrics_port = 0;
  coordinator::Coordinator first(o);
  ASSERT_TRUE(first.Prepare().ok());
  o.metrics_port = first.metrics_port();
  coordinator::Coordinator taken(o);
  common::Status st = taken.Prepare();
  EXPECT_EQ(st.code(), common::StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("cannot serve metrics on 127.0.0.1:" +
                              std::to_string(first.metrics_port())),
            std::string::npos)
      << st.ToString();

  o.metrics_address = "localhost";
  coordinator::Coordinator named(o);
  st = named.Prepare();
  EXPECT_EQ(st.code(), common::StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("--metrics-address 'localhost'"),
            std::string::npos)
      << st.ToString();
}

TEST(MetricsServerTest, ServesGetMetricsOnlyAndAnswersTheRestWithErrors) {
  int renders = 0;
  auto server = coordinator::MetricsServer::Start("127.0.0.1", 0, [&] {
    ++renders;
    return std::string("x_total 1\n");
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const uint16_t port = (*server)->port();
  EXPECT_EQ((*server)->endpoint(), "127.0.0.1:" + std::to_string(port));
  auto metrics = HttpGet(port, "/metrics?x=1");
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "x_total 1\n");
  auto other = HttpGet(port, "/");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->status, 404);
  auto post = HttpGet(port, "/metrics", 10s, "POST");
  ASSERT_TRUE(post.ok()) << post.status().ToString();
  EXPECT_EQ(post->status, 405);
  server->reset();  // stops and joins its thread: renders is settled
  EXPECT_EQ(renders, 1);
}

// A child process that is sent SIGTERM and waited for when this goes.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    kill(pid_, SIGTERM);
    (void)common::WaitForExit(pid_);
  }
  bool Exited() const {
    auto r = common::PollExit(pid_);
    return !r.ok() || r->has_value();
  }

 private:
  pid_t pid_;
};

// A port nothing listens on right now (another process may take it before
// it is used: the caller retries).
uint16_t FreeLoopbackPort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(
      io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

TEST_F(PrometheusEndpointTest, PrometheusServerScrapesTheRunAndAnswersAQuery) {
  if (!fs::exists(kPrometheus)) {
    GTEST_SKIP() << kPrometheus << " is absent (Debian package prometheus, "
                 << "installed by scripts/install-deps.sh)";
  }
  constexpr int kRounds = 2;
  auto o = CoordinatorOpts(/*min_clients=*/2, kRounds);
  o.metrics_port = 0;
  o.linger = true;
  coordinator::Coordinator c(o);
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  // However the test ends, the lingering coordinator is stopped.
  struct StopAtExit {
    coordinator::Coordinator& c;
    std::thread& thread;
    ~StopAtExit() {
      if (!thread.joinable()) return;
      c.Stop();
      thread.join();
    }
  } stop_at_exit{c, coordinator_thread};
  for (const auto& r : client::RunClients(ClientOpts(c.port(), "client-0"),
                                          Shards({0, 1}, 2))) {
    EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
  }

  const fs::path config = dir_ / "prometheus.yml";
  std::ofstream(config) << "global:\n"
                        << "  scrape_interval: 1s\n"
                        << "scrape_configs:\n"
                        << "  - job_name: fedjets\n"
                        << "    static_configs:\n"
                        << "      - targets: ['127.0.0.1:" << c.metrics_port()
                        << "']\n";
  const fs::path log = dir_ / "prometheus.log";
  // Prometheus' own port is picked free and may be taken before it binds:
  // then it exits, and another is tried.
  // Starting it, its first scrape and the answer: 50 s at most in all.
  const auto give_up = std::chrono::steady_clock::now() + 50s;
  auto in_time = [&] { return std::chrono::steady_clock::now() < give_up; };
  std::unique_ptr<ChildProcess> prometheus;
  uint16_t web_port = 0;
  for (int attempt = 0; attempt < 3 && !prometheus && in_time(); ++attempt) {
    web_port = FreeLoopbackPort();
    auto pid = common::Spawn(
        {kPrometheus, "--config.file=" + config.string(),
         "--storage.tsdb.path=" + (dir_ / "tsdb").string(),
         "--web.listen-address=127.0.0.1:" + std::to_string(web_port)},
        {.log_file = log.string()});
    ASSERT_TRUE(pid.ok()) << pid.status().ToString();
    auto child = std::make_unique<ChildProcess>(*pid);
    while (in_time() && !child->Exited()) {
      auto ready = HttpGet(web_port, "/-/ready", 2s);
      if (ready.ok() && ready->status == 200) {
        prometheus = std::move(child);
        break;
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  auto log_text = [&] {
    std::ifstream in(log);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  ASSERT_TRUE(prometheus) << "prometheus did not become ready:\n" << log_text();

  // Ask until its first scrape has landed: rounds_total as it stored it.
  std::string answer;
  nlohmann::json result;
  while (in_time() && result.empty()) {
    auto r = HttpGet(web_port, "/api/v1/query?query=fedjets_rounds_total", 2s);
    if (r.ok() && r->status == 200) {
      answer = r->body;
      auto j =
          nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.value("status", "") == "success") {
        result = j["data"]["result"];
      }
    }
    if (result.empty()) std::this_thread::sleep_for(250ms);
  }
  c.Stop();
  coordinator_thread.join();
  EXPECT_TRUE(run_status.ok()) << run_status.ToString();
  ASSERT_EQ(result.size(), 1u) << "last answer: " << answer << "\n"
                               << log_text();
  EXPECT_EQ(result[0]["metric"]["job"], "fedjets");
  EXPECT_EQ(result[0]["metric"]["instance"],
            "127.0.0.1:" + std::to_string(c.metrics_port()));
  EXPECT_EQ(result[0]["value"][1], std::to_string(kRounds));
}

}  // namespace
}  // namespace fedjets
