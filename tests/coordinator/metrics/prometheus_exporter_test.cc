#include "coordinator/metrics/prometheus_exporter.h"

#include <gtest/gtest.h>

#include <optional>

#include "tests/coordinator/metrics/prometheus_text.h"

namespace fedjets::coordinator {
namespace {

using fedjets::testutil::SampleValue;

class PrometheusMetricsTest : public ::testing::Test {
 protected:
  std::optional<double> Value(std::string_view series) const {
    return SampleValue(metrics_.Text(), series);
  }
  PrometheusMetrics metrics_;
};

StartEvent FedJetsStart() {
  StartEvent s;
  s.run_id = "run-1";
  s.algorithm = "fedjets";
  s.test_accuracy = 0.25;
  s.common_expert_accuracy = 0.75;
  s.num_experts = 3;
  s.top_k = 2;
  return s;
}

UpdateEvent Update(int round, const std::string& client, int64_t samples,
                   std::vector<int> experts) {
  UpdateEvent u;
  u.round = round;
  u.client = client;
  u.samples = samples;
  u.role = "normal";
  u.experts = std::move(experts);
  return u;
}

TEST_F(PrometheusMetricsTest, BeforeAnyEventCountersAreZeroAndAccuracyAbsent) {
  EXPECT_EQ(Value("fedjets_rounds_total"), 0.0);
  EXPECT_EQ(Value("fedjets_bytes_sent_total"), 0.0);
  EXPECT_EQ(Value("fedjets_clients_connected"), 0.0);
  EXPECT_EQ(Value("fedjets_round_duration_seconds_count"), 0.0);
  EXPECT_FALSE(Value("fedjets_unseen_accuracy"));
  EXPECT_FALSE(Value("fedjets_test_accuracy"));
}

TEST_F(PrometheusMetricsTest, ProcessResidentMemoryIsReadAtEachScrape) {
  const auto rss = Value("process_resident_memory_bytes");
  ASSERT_TRUE(rss);
  EXPECT_GT(*rss, 0.0);
}

TEST_F(PrometheusMetricsTest, StartNamesTheRunAndCreatesEveryExpertAtZero) {
  metrics_.OnEvent(FedJetsStart());
  EXPECT_EQ(Value(R"(fedjets_run_info{algorithm="fedjets",run_id="run-1"})"),
            1.0);
  EXPECT_EQ(Value("fedjets_test_accuracy"), 0.25);
  EXPECT_EQ(Value("fedjets_common_expert_accuracy"), 0.75);
  for (const char* e : {"0", "1", "2"}) {
    const std::string label = std::string(R"({expert=")") + e + "\"}";
    EXPECT_EQ(Value("fedjets_expert_load" + label), 0.0) << e;
    EXPECT_EQ(Value("fedjets_expert_samples_total" + label), 0.0) << e;
  }
  EXPECT_FALSE(Value(R"(fedjets_expert_load{expert="3"})"));
}

TEST_F(PrometheusMetricsTest, RoundsUpdatesAndRejectionsAccumulate) {
  metrics_.OnEvent(FedJetsStart());
  metrics_.OnEvent(Update(1, "a", 100, {0, 2}));
  metrics_.OnEvent(Update(1, "b", 50, {2}));
  RoundEvent r1;
  r1.round = 1;
  r1.clients_sampled = 3;
  r1.clients_reported = 2;
  r1.train_loss = 1.5;
  r1.seconds = 0.75;
  r1.expert_load = std::vector<int>{1, 0, 2};
  r1.updates_rejected = std::map<std::string, int>{{"non_finite", 1}};
  metrics_.OnEvent(r1);
  metrics_.OnEvent(Update(2, "a", 100, {1}));
  RoundEvent r2 = r1;
  r2.round = 2;
  r2.clients_reported = 1;
  r2.seconds = 40;
  r2.expert_load = std::vector<int>{0, 1, 0};
  r2.updates_rejected =
      std::map<std::string, int>{{"non_finite", 2}, {"num_samples", 1}};
  metrics_.OnEvent(r2);

  EXPECT_EQ(Value("fedjets_rounds_total"), 2.0);
  EXPECT_EQ(Value("fedjets_updates_total"), 3.0);
  EXPECT_EQ(Value(R"(fedjets_updates_rejected_total{reason="non_finite"})"),
            3.0);
  EXPECT_EQ(Value(R"(fedjets_updates_rejected_total{reason="num_samples"})"),
            1.0);
  // The last round's figures.
  EXPECT_EQ(Value("fedjets_clients_sampled"), 3.0);
  EXPECT_EQ(Value("fedjets_clients_reported"), 1.0);
  EXPECT_EQ(Value("fedjets_train_loss"), 1.5);
  EXPECT_EQ(Value(R"(fedjets_expert_load{expert="0"})"), 0.0);
  EXPECT_EQ(Value(R"(fedjets_expert_load{expert="1"})"), 1.0);
  // Totals over the run, from the update events.
  EXPECT_EQ(Value(R"(fedjets_expert_clients_total{expert="2"})"), 2.0);
  EXPECT_EQ(Value(R"(fedjets_expert_samples_total{expert="0"})"), 100.0);
  EXPECT_EQ(Value(R"(fedjets_expert_samples_total{expert="1"})"), 100.0);
  EXPECT_EQ(Value(R"(fedjets_expert_samples_total{expert="2"})"), 150.0);
  // One round under a second, one of 40 s.
  EXPECT_EQ(Value("fedjets_round_duration_seconds_count"), 2.0);
  EXPECT_EQ(Value("fedjets_round_duration_seconds_sum"), 40.75);
  EXPECT_EQ(Value(R"(fedjets_round_duration_seconds_bucket{le="1"})"), 1.0);
  EXPECT_EQ(Value(R"(fedjets_round_duration_seconds_bucket{le="60"})"), 2.0);
}

TEST_F(PrometheusMetricsTest, FailedAttemptsAreCountedApartFromRounds) {
  EXPECT_EQ(Value("fedjets_round_attempts_failed_total"), 0.0);
  RoundFailedEvent f;
  f.round = 3;
  f.attempt = 1;
  f.updates_rejected = std::map<std::string, int>{{"stale", 1}};
  metrics_.OnEvent(f);
  f.attempt = 2;
  f.updates_rejected.reset();
  metrics_.OnEvent(f);
  EXPECT_EQ(Value("fedjets_round_attempts_failed_total"), 2.0);
  EXPECT_EQ(Value("fedjets_rounds_total"), 0.0);
  EXPECT_EQ(Value(R"(fedjets_updates_rejected_total{reason="stale"})"), 1.0);
}

TEST_F(PrometheusMetricsTest, EvaluationSetsTheAccuracies) {
  EvalEvent e;
  e.round = 4;
  e.test_accuracy = 0.8;
  e.accuracy.seen = 0.85;
  e.accuracy.unseen = 0.625;
  e.routing_accuracy = 0.5;
  metrics_.OnEvent(e);
  EXPECT_EQ(Value("fedjets_test_accuracy"), 0.8);
  EXPECT_EQ(Value("fedjets_seen_accuracy"), 0.85);
  EXPECT_EQ(Value("fedjets_unseen_accuracy"), 0.625);
  EXPECT_EQ(Value("fedjets_routing_accuracy"), 0.5);
}

TEST_F(PrometheusMetricsTest, FedAvgHasNoExpertSeries) {
  StartEvent s;
  s.algorithm = "fedavg";
  metrics_.OnEvent(s);
  UpdateEvent u;
  u.samples = 10;
  metrics_.OnEvent(u);
  metrics_.OnEvent(RoundEvent{});
  EXPECT_EQ(Value("fedjets_updates_total"), 1.0);
  EXPECT_EQ(metrics_.Text().find("fedjets_expert_"), std::string::npos);
}

TEST_F(PrometheusMetricsTest, TrafficAndConnectedClientsAreCounted) {
  metrics_.OnBytesSent(1000);
  metrics_.OnBytesSent(24);
  metrics_.OnBytesReceived(7);
  metrics_.SetConnectedClients(5);
  metrics_.SetConnectedClients(4);
  EXPECT_EQ(Value("fedjets_bytes_sent_total"), 1024.0);
  EXPECT_EQ(Value("fedjets_bytes_received_total"), 7.0);
  EXPECT_EQ(Value("fedjets_clients_connected"), 4.0);
}

}  // namespace
}  // namespace fedjets::coordinator
