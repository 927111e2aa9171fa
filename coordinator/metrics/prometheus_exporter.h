// The run in Prometheus' form (docs/OPERATIONS.md, "Prometheus endpoint"):
// PrometheusMetrics turns the run events the coordinator records (the same
// ones metrics.jsonl holds), the bytes its connections move and the number
// of connected clients into prometheus-cpp counters, gauges and a
// histogram, and renders them in the text exposition format that
// MetricsServer (coordinator/metrics/metrics_server.h) serves at /metrics.
//
// Thread-safety: fed from one thread at a time (the coordinator's network
// thread); Text() may be called from any thread at any time. Every value
// is an atomic prometheus-cpp metric, so a scrape sees each value whole,
// but may see a round's values only partly updated.
//
// prometheus-cpp stays out of this header, so only the files that build
// the metrics need it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/net/traffic_observer.h"
#include "coordinator/metrics/event_sink.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace fedjets::coordinator {

class PrometheusMetrics final : public EventSink,
                                public common::TrafficObserver {
 public:
  PrometheusMetrics();
  ~PrometheusMetrics() override;
  PrometheusMetrics(const PrometheusMetrics&) = delete;
  PrometheusMetrics& operator=(const PrometheusMetrics&) = delete;

  void OnEvent(const Event& event) override;
  void OnBytesSent(uint64_t bytes) override;
  void OnBytesReceived(uint64_t bytes) override;
  // Training clients that joined and are still connected.
  void SetConnectedClients(int count);

  // Every metric in the text exposition format, as /metrics serves it.
  std::string Text() const;

 private:
  struct Metrics;
  void OnStart(const StartEvent& e);
  void OnUpdate(const UpdateEvent& e);
  void OnRound(const RoundEvent& e);
  void OnRoundFailed(const RoundFailedEvent& e);
  void OnEval(const EvalEvent& e);
  // Makes the per-expert series of experts [0, count) exist, at 0.
  void AddExperts(int count);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Metrics> m_;
};

}  // namespace fedjets::coordinator
