#include "coordinator/metrics/prometheus_exporter.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <type_traits>
#include <utility>
#include <variant>

#include "common/base/process_memory.h"

namespace fedjets::coordinator {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Registry;

// A round takes from under a second (CI) to many minutes (real clients).
const Histogram::BucketBoundaries kRoundSecondsBuckets = {
    0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};

Family<Counter>& CounterFamily(Registry& r, const char* name,
                               const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

Family<Gauge>& GaugeFamily(Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

std::string ExpertLabel(size_t expert) { return std::to_string(expert); }

}  // namespace

// Metrics without labels that are known from the start are created at 0;
// the others (accuracies, per-reason and per-expert series) appear with
// their first value, so a scrape never shows a value the run has not had.
struct PrometheusMetrics::Metrics {
  explicit Metrics(Registry& r)
      : run_info(GaugeFamily(r, "fedjets_run_info",
                             "1, labelled with the run id and algorithm")),
        rounds(CounterFamily(r, "fedjets_rounds_total",
                             "rounds completed (aggregated with a quorum)")
                   .Add({})),
        round_attempts_failed(
            CounterFamily(r, "fedjets_round_attempts_failed_total",
                          "round attempts that ended below quorum and were "
                          "retried (or stopped the run)")
                .Add({})),
        round_seconds(prometheus::BuildHistogram()
                          .Name("fedjets_round_duration_seconds")
                          .Help("wall time of each round: waiting for "
                                "clients, exchanges, aggregation, evaluation")
                          .Register(r)
                          .Add({}, kRoundSecondsBuckets)),
        clients_connected(
            GaugeFamily(r, "fedjets_clients_connected",
                        "training clients joined and still connected")
                .Add({})),
        clients_sampled(GaugeFamily(r, "fedjets_clients_sampled",
                                    "clients sampled in the last round")
                            .Add({})),
        clients_reported(
            GaugeFamily(r, "fedjets_clients_reported",
                        "clients whose update was accepted in the last round")
                .Add({})),
        updates(
            CounterFamily(r, "fedjets_updates_total", "client updates accepted")
                .Add({})),
        updates_rejected(CounterFamily(
            r, "fedjets_updates_rejected_total",
            "client updates refused by the coordinator's checks, by reason")),
        bytes_sent(CounterFamily(r, "fedjets_bytes_sent_total",
                                 "frame bytes sent to clients")
                       .Add({})),
        bytes_received(CounterFamily(r, "fedjets_bytes_received_total",
                                     "frame bytes received from clients")
                           .Add({})),
        train_loss(GaugeFamily(r, "fedjets_train_loss",
                               "mean local training loss of the last round's "
                               "updates, weighted by samples")),
        test_accuracy(GaugeFamily(r, "fedjets_test_accuracy",
                                  "global model's accuracy on the test split "
                                  "at the last evaluation (0..1)")),
        seen_accuracy(
            GaugeFamily(r, "fedjets_seen_accuracy",
                        "mean accuracy on the seen evaluation clients (0..1)")),
        unseen_accuracy(GaugeFamily(
            r, "fedjets_unseen_accuracy",
            "mean accuracy on the unseen evaluation clients, zero-shot for "
            "fedjets (0..1)")),
        routing_accuracy(GaugeFamily(
            r, "fedjets_routing_accuracy",
            "fedjets: share of unseen clients' samples the gate routed to "
            "the expert of their class (0..1)")),
        common_expert_accuracy(
            GaugeFamily(r, "fedjets_common_expert_accuracy",
                        "fedjets: the frozen common expert's test accuracy")),
        expert_load(GaugeFamily(
            r, "fedjets_expert_load",
            "fedjets: clients that trained each expert in the last round")),
        expert_clients(
            CounterFamily(r, "fedjets_expert_clients_total",
                          "fedjets: accepted updates that trained each "
                          "expert")),
        expert_samples(CounterFamily(
            r, "fedjets_expert_samples_total",
            "fedjets: local samples of the accepted updates that trained "
            "each expert")),
        resident_memory(
            GaugeFamily(r, "process_resident_memory_bytes",
                        "resident set size of the coordinator process, "
                        "read at each scrape")
                .Add({})) {}

  Family<Gauge>& run_info;
  Counter& rounds;
  Counter& round_attempts_failed;
  Histogram& round_seconds;
  Gauge& clients_connected;
  Gauge& clients_sampled;
  Gauge& clients_reported;
  Counter& updates;
  Family<Counter>& updates_rejected;
  Counter& bytes_sent;
  Counter& bytes_received;
  Family<Gauge>& train_loss;
  Family<Gauge>& test_accuracy;
  Family<Gauge>& seen_accuracy;
  Family<Gauge>& unseen_accuracy;
  Family<Gauge>& routing_accuracy;
  Family<Gauge>& common_expert_accuracy;
  Family<Gauge>& expert_load;
  Family<Counter>& expert_clients;
  Family<Counter>& expert_samples;
  Gauge& resident_memory;
};

PrometheusMetrics::PrometheusMetrics()
    : registry_(std::make_shared<Registry>()),
      m_(std::make_unique<Metrics>(*registry_)) {}

PrometheusMetrics::~PrometheusMetrics() = default;

void PrometheusMetrics::OnEvent(const Event& event) {
  std::visit(
      [this](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, StartEvent>) OnStart(e);
        if constexpr (std::is_same_v<E, UpdateEvent>) OnUpdate(e);
        if constexpr (std::is_same_v<E, RoundEvent>) OnRound(e);
        if constexpr (std::is_same_v<E, RoundFailedEvent>) OnRoundFailed(e);
        if constexpr (std::is_same_v<E, EvalEvent>) OnEval(e);
      },
      event);
}

void PrometheusMetrics::OnStart(const StartEvent& e) {
  m_->run_info.Add({{"run_id", e.run_id}, {"algorithm", e.algorithm}}).Set(1);
  m_->test_accuracy.Add({}).Set(e.test_accuracy);
  if (e.common_expert_accuracy) {
    m_->common_expert_accuracy.Add({}).Set(*e.common_expert_accuracy);
  }
  if (e.num_experts) AddExperts(*e.num_experts);
}

void PrometheusMetrics::AddExperts(int count) {
  for (int i = 0; i < count; ++i) {
    const prometheus::Labels labels = {{"expert", ExpertLabel(i)}};
    m_->expert_load.Add(labels);
    m_->expert_clients.Add(labels);
    m_->expert_samples.Add(labels);
  }
}

void PrometheusMetrics::OnUpdate(const UpdateEvent& e) {
  m_->updates.Increment();
  for (int expert : e.experts) {
    if (expert < 0) continue;
    const prometheus::Labels labels = {{"expert", ExpertLabel(expert)}};
    m_->expert_clients.Add(labels).Increment();
    m_->expert_samples.Add(labels).Increment(static_cast<double>(e.samples));
  }
}

void PrometheusMetrics::OnRound(const RoundEvent& e) {
  m_->rounds.Increment();
  m_->round_seconds.Observe(e.seconds);
  m_->clients_sampled.Set(e.clients_sampled);
  m_->clients_reported.Set(e.clients_reported);
  if (e.clients_reported > 0) m_->train_loss.Add({}).Set(e.train_loss);
  if (e.test_accuracy) m_->test_accuracy.Add({}).Set(*e.test_accuracy);
  if (e.updates_rejected) {
    for (const auto& [reason, count] : *e.updates_rejected) {
      m_->updates_rejected.Add({{"reason", reason}}).Increment(count);
    }
  }
  if (e.expert_load) {
    for (size_t i = 0; i < e.expert_load->size(); ++i) {
      m_->expert_load.Add({{"expert", ExpertLabel(i)}})
          .Set((*e.expert_load)[i]);
    }
  }
}

void PrometheusMetrics::OnRoundFailed(const RoundFailedEvent& e) {
  m_->round_attempts_failed.Increment();
  if (e.updates_rejected) {
    for (const auto& [reason, count] : *e.updates_rejected) {
      m_->updates_rejected.Add({{"reason", reason}}).Increment(count);
    }
  }
}

void PrometheusMetrics::OnEval(const EvalEvent& e) {
  m_->test_accuracy.Add({}).Set(e.test_accuracy);
  if (e.accuracy.seen) m_->seen_accuracy.Add({}).Set(*e.accuracy.seen);
  if (e.accuracy.unseen) m_->unseen_accuracy.Add({}).Set(*e.accuracy.unseen);
  if (e.routing_accuracy) {
    m_->routing_accuracy.Add({}).Set(*e.routing_accuracy);
  }
}

void PrometheusMetrics::OnBytesSent(uint64_t bytes) {
  m_->bytes_sent.Increment(static_cast<double>(bytes));
}

void PrometheusMetrics::OnBytesReceived(uint64_t bytes) {
  m_->bytes_received.Increment(static_cast<double>(bytes));
}

void PrometheusMetrics::SetConnectedClients(int count) {
  m_->clients_connected.Set(count);
}

std::string PrometheusMetrics::Text() const {
  // Read now rather than with each round, so a stalled run still shows
  // its memory.
  if (auto rss = common::ResidentSetBytes(); rss.ok()) {
    m_->resident_memory.Set(static_cast<double>(*rss));
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace fedjets::coordinator
