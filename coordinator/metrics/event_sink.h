// EventSink: told of every run event as the coordinator records it, next to
// metrics.jsonl (coordinator/run_log.h), so one place produces both the file
// and any other view of the run (the Prometheus endpoint,
// coordinator/metrics/prometheus_exporter.h).
//
// Called on the thread that records the event (the coordinator's network
// thread, and the thread that called Run() for the end event), one event at
// a time.
#pragma once

#include "coordinator/metrics/events.h"

namespace fedjets::coordinator {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(const Event& event) = 0;
};

}  // namespace fedjets::coordinator
