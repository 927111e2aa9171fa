// Checkpoints and --resume: what the coordinator writes after each round
// and how a run continues from it (coordinator/checkpoint.h).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "coordinator/checkpoint.h"
#include "coordinator/coordinator_flags.h"
#include "coordinator/coordinator_impl.h"

namespace fedjets::coordinator {

std::string Coordinator::Impl::ConfigFingerprint() const {
  std::vector<std::string> args = StrategyArgs(opt_.strategy);
  auto add = [&](const char* flag, const std::string& value) {
    args.push_back(flag);
    args.push_back(value);
  };
  add("--dataset", opt_.data.name);
  add("--data", opt_.data.path);
  for (const auto& [k, v] : opt_.data.options)
    add("--data-option", k + "=" + v);
  add("--partition", opt_.partition);
  add("--num-clients", std::to_string(opt_.num_clients));
  add("--clients-per-round", std::to_string(opt_.clients_per_round));
  add("--anchor-share", fmt::format("{}", opt_.anchor_share));
  if (opt_.validation_clients > 0) {  // older checkpoints have none
    add("--validation-clients", std::to_string(opt_.validation_clients));
    add("--validation-fraction", fmt::format("{}", opt_.validation_fraction));
  }
  return fmt::format("{}", fmt::join(args, "\n"));
}

Status Coordinator::Impl::LoadResumePoint() {
  if (opt_.run_dir.empty()) {
    return common::InvalidArgument("--resume needs the run directory");
  }
  std::vector<std::string> skipped;
  auto c = LoadNewestCheckpoint(opt_.run_dir, skipped);
  for (const auto& why : skipped) {
    spdlog::warn("skipping checkpoint {}", why);
  }
  if (!c.ok()) return c.status().Annotate("--resume");
  const std::string now = ConfigFingerprint();
  if (c->config_fingerprint != now) {
    // Name the first setting that differs: the fingerprint is "flag\nvalue"
    // pairs in a fixed order.
    std::istringstream was(c->config_fingerprint), is(now);
    std::string a, b, flag;
    int line = 0;
    while (std::getline(was, a) && std::getline(is, b)) {
      if (line++ % 2 == 0) flag = b;
      if (a != b) break;
    }
    return common::FailedPrecondition(fmt::format(
        "--resume: the checkpoint of round {} was made with {} {}, this run "
        "has {} {}; resume with the run's own settings",
        c->round, flag, a, flag, b));
  }
  if (!opt_.run_id.empty() && opt_.run_id != c->run_id) {
    return common::FailedPrecondition(
        fmt::format("--resume: --run-id '{}' but the checkpoint is of run '{}'",
                    opt_.run_id, c->run_id));
  }
  summary_.run_id = c->run_id;
  summary_.resumed_after_round = c->round;
  summary_.initial_accuracy = c->initial_accuracy;
  summary_.final_accuracy = c->final_accuracy;
  summary_.final_seen_accuracy = c->final_seen_accuracy;
  summary_.final_unseen_accuracy = c->final_unseen_accuracy;
  summary_.final_validation_accuracy = c->final_validation_accuracy;
  client_bytes_total_ = c->client_bytes_total;
  client_exchanges_ = c->client_exchanges;
  resume_ = std::move(*c);
  return Status::Ok();
}

awaitable<Status> Coordinator::Impl::SaveCheckpoint(
    int round, const std::mt19937_64& rng) {
  if (opt_.run_dir.empty()) co_return Status::Ok();
  Checkpoint c;
  c.run_id = summary_.run_id;
  c.round = round;
  std::ostringstream sampler;
  sampler << rng;
  c.sampler_state = sampler.str();
  c.config_fingerprint = ConfigFingerprint();
  c.metrics_bytes = log_.BytesWritten();
  c.initial_accuracy = summary_.initial_accuracy;
  c.final_accuracy = summary_.final_accuracy;
  c.final_seen_accuracy = summary_.final_seen_accuracy;
  c.final_unseen_accuracy = summary_.final_unseen_accuracy;
  c.final_validation_accuracy = summary_.final_validation_accuracy;
  c.client_bytes_total = client_bytes_total_;
  c.client_exchanges = client_exchanges_;
  // The published snapshot is the state after `round`. By reference: c
  // and snapshot live in this coroutine's frame until the worker is done
  // (GCC 12 mishandles a moved capture in OnWorkers' coroutine).
  const std::shared_ptr<const ModelSnapshot> snapshot = strategy_->published();
  co_return co_await OnWorkers([&] {
    c.params = snapshot->All();
    return WriteCheckpoint(opt_.run_dir, c);
  });
}

Status RestoreSampler(const std::string& state, std::mt19937_64& rng) {
  std::istringstream in(state);
  in >> rng;
  if (!in) {
    return common::DataLoss(
        "--resume: the checkpoint's client sampler state does not parse");
  }
  return Status::Ok();
}

}  // namespace fedjets::coordinator
