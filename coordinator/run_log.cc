#include "coordinator/run_log.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace fedjets::coordinator {

common::Status RunLog::Open(const std::string& run_dir,
                            std::optional<uint64_t> keep_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  metrics_path_ = std::filesystem::path(run_dir) / "metrics.jsonl";
  if (!ec && keep_bytes) {
    const uint64_t size = std::filesystem::file_size(metrics_path_, ec);
    if (!ec && size < *keep_bytes) {
      return common::FailedPrecondition(fmt::format(
          "{} holds {} bytes but the checkpoint was taken after {}: it was "
          "changed since",
          metrics_path_.string(), size, *keep_bytes));
    }
    if (!ec) std::filesystem::resize_file(metrics_path_, *keep_bytes, ec);
  }
  if (!ec) metrics_.open(metrics_path_, std::ios::app);
  if (ec || !metrics_) {
    return common::Unavailable(
        fmt::format("cannot write the run directory '{}': {}", run_dir,
                    ec ? ec.message() : "open failed"));
  }
  return common::Status::Ok();
}

uint64_t RunLog::BytesWritten() {
  if (!metrics_.is_open()) return 0;
  metrics_.flush();
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(metrics_path_, ec);
  return ec ? 0 : size;
}

void RunLog::Record(const Event& event) {
  for (EventSink* sink : sinks_) sink->OnEvent(event);
  if (!metrics_.is_open()) return;
  metrics_ << EventLine(event) << '\n';
  metrics_.flush();
}

void RunLog::Progress(int round, int reported, int sampled) {
  if (!print_table_ || !isatty(STDERR_FILENO)) return;
  fmt::print(stderr, "\r  round {}/{}: {}/{} clients reported ", round,
             total_rounds_, reported, sampled);
  std::fflush(stderr);
}

void RunLog::PrintRow(const RoundMetrics& m) {
  if (!print_table_) return;
  if (isatty(STDERR_FILENO)) fmt::print(stderr, "\r\033[K");
  if (!header_printed_) {
    header_printed_ = true;
    fmt::print("{:>5} {:>9} {:>10} {:>9} {:>9} {:>11} {:>11} {:>8}\n", "round",
               "clients", "train_loss", "test_acc", "unseen", "bytes_sent",
               "bytes_recv", "seconds");
  }
  auto pct = [](double v) {
    return v < 0 ? std::string("-") : fmt::format("{:.2f}%", 100 * v);
  };
  fmt::print("{:>5} {:>9} {:>10.4f} {:>9} {:>9} {:>11} {:>11} {:>8.1f}\n",
             m.round,
             fmt::format("{}/{}", m.clients_reported, m.clients_sampled),
             m.train_loss, pct(m.test_accuracy), pct(m.unseen_accuracy),
             m.bytes_sent, m.bytes_received, m.seconds);
  std::fflush(stdout);
}

}  // namespace fedjets::coordinator
