// What both strategies are built from (internal to the coordinator).
#pragma once

#include "common/learn/model.h"
#include "common/learn/training.h"
#include "coordinator/evaluation.h"
#include "coordinator/strategy/round_seed.h"
#include "coordinator/strategy/strategy.h"

namespace fedjets::coordinator {

struct StrategyContext {
  StrategyOptions options;
  common::ModelSpec spec;   // family resolved, never "auto"
  common::TensorData test;  // global test split (maybe capped)
  std::vector<EvalClient> eval_clients;
  std::vector<std::vector<int64_t>> anchor_classes;  // per expert
  common::Classifier common_expert;  // null when --common-expert none
  double common_expert_accuracy = -1;
  // FedJETs with --baselines: a centrally trained gate (TrainReferenceGate).
  common::Gate reference_gate{nullptr};
};

proto::ModelConfig ModelConfigFor(const common::ModelSpec& spec);

common::Result<std::unique_ptr<Strategy>> MakeFedAvgStrategy(
    StrategyContext context);
common::Result<std::unique_ptr<Strategy>> MakeFedJetsStrategy(
    StrategyContext context);

// Sends `params` announced by a RoundTask (or ExpertGrant) envelope.
boost::asio::awaitable<common::Status> SendWithHeader(
    common::Connection& c, proto::Envelope header,
    const common::ParameterList& params, common::Clock::time_point deadline);

// The largest frame a client may send in a round outside a tensor stream
// (Update, ExpertRequest, Heartbeat, Error); a longer one is refused from
// its header.
inline constexpr uint32_t kMaxClientMessageBytes = 64u << 10;

// Reads a client's next message of a round exchange, skipping Heartbeats
// (a client sends them while it works on the task). The envelope is
// checked for run and round; a frame over kMaxClientMessageBytes is
// refused unread (RESOURCE_EXHAUSTED).
boost::asio::awaitable<common::Result<proto::Envelope>> ReadClientMessage(
    common::Connection& c, const std::string& run_id, int round,
    common::Clock::time_point deadline);

// Reads an Update envelope and the parameters that follow it, which must
// be exactly `expected`: checked chunk by chunk as they arrive and capped
// at StreamByteCap(expected) wire bytes (common::ReceiveParameters).
boost::asio::awaitable<
    common::Result<std::pair<proto::Update, common::ParameterList>>>
ReceiveUpdate(common::Connection& c, const std::string& run_id, int round,
              const common::TensorSpecList& expected,
              common::Clock::time_point deadline);

}  // namespace fedjets::coordinator
