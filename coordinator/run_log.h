// How a run reports itself: metrics.jsonl in the run directory (one JSON
// object per event, docs/METRICS.md), the event sinks it is given (the
// Prometheus endpoint) and, when asked, the per-round table on stdout with
// a progress line on a terminal's stderr.
// Not thread-safe: the coordinator uses it from its network thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "coordinator/coordinator.h"
#include "coordinator/metrics/event_sink.h"
#include "coordinator/metrics/events.h"

namespace fedjets::coordinator {

class RunLog {
 public:
  RunLog(bool print_table, int total_rounds)
      : print_table_(print_table), total_rounds_(total_rounds) {}

  // Creates the run directory and opens its metrics.jsonl for appending;
  // with `keep_bytes` (resuming), first cuts it back to that many bytes,
  // dropping what was recorded after the checkpoint.
  common::Status Open(const std::string& run_dir,
                      std::optional<uint64_t> keep_bytes = std::nullopt);
  // metrics.jsonl's size so far (0 without a run directory).
  uint64_t BytesWritten();
  // Also tells `sink` of every event Record is given; it must outlive this
  // RunLog.
  void AddSink(EventSink* sink) { sinks_.push_back(sink); }
  // Tells the sinks of one event, then appends it to metrics.jsonl (if
  // open) and flushes, so a crash loses nothing written.
  void Record(const Event& event);
  // "round r/n: k/m clients reported", redrawn in place on a terminal.
  void Progress(int round, int reported, int sampled);
  // One table row (with the header before round 1).
  void PrintRow(const RoundMetrics& m);

 private:
  bool print_table_;
  int total_rounds_;
  std::filesystem::path metrics_path_;
  std::ofstream metrics_;
  bool header_printed_ = false;
  std::vector<EventSink*> sinks_;
};

}  // namespace fedjets::coordinator
