// The events of a run's metrics.jsonl (docs/METRICS.md), defined once for
// the coordinator that writes them and fedjets-report that reads them.
//
// A line is one event as compact JSON with its keys in lexicographic order
// (nlohmann::json's default object), plus "event": the event's kind.
// Integer fields keep the C++ type the coordinator counts in, so a value
// prints as the integer it is; a double prints in shortest round-trip form,
// NaN and infinities as null (read back as NaN). std::optional fields are
// left out of the line when empty.
//
// LibTorch-free, so the report tool and its tests build without it.
// Thread-compatible: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/base/status.h"
#include "common/data/eval_client_kind.h"

namespace fedjets::coordinator {

// Once, before round 1: the initial global model.
struct StartEvent {
  static constexpr std::string_view kName = "start";
  std::string run_id;
  std::string algorithm;  // fedavg, fedprox or fedjets
  uint64_t seed = 0;
  double test_accuracy = 0.0;
  // The frozen common expert's test accuracy, when one was pretrained.
  std::optional<double> common_expert_accuracy;
  std::optional<int> num_experts, top_k;  // fedjets
  bool operator==(const StartEvent&) const = default;
};

// One client's update in a round.
struct UpdateEvent {
  static constexpr std::string_view kName = "update";
  int round = 0;
  std::string client;
  int64_t samples = 0;
  double train_loss = 0.0;
  uint64_t bytes_sent = 0;      // coordinator -> client
  uint64_t bytes_received = 0;  // client -> coordinator
  // fedjets: "anchor" or "normal", and the experts the client trained.
  // Both are written only when role is not empty.
  std::string role;
  std::vector<int> experts;
  bool operator==(const UpdateEvent&) const = default;
};

// One client's update the coordinator refused in a round; the round's
// updates_rejected counts them by reason.
struct UpdateRejectedEvent {
  static constexpr std::string_view kName = "update_rejected";
  int round = 0;
  std::string client;
  std::string reason;   // a key of RoundEvent::updates_rejected
  std::string message;  // why, as the client was told in its Error
  bool operator==(const UpdateRejectedEvent&) const = default;
};

// One round, after aggregation (and evaluation, if it had one).
struct RoundEvent {
  static constexpr std::string_view kName = "round";
  int round = 0;
  int clients_sampled = 0;
  int clients_reported = 0;
  double train_loss = 0.0;  // mean over reported clients, by samples
  uint64_t bytes_sent = 0;  // coordinator totals this round
  uint64_t bytes_received = 0;
  double seconds = 0.0;
  std::optional<double> test_accuracy;  // when evaluated this round
  // When evaluated this round and the run has validation clients.
  std::optional<double> validation_accuracy;
  // fedjets: per expert, the number of clients that trained it.
  std::optional<std::vector<int>> expert_load;
  // Updates the coordinator refused, by reason ("num_samples",
  // "non_finite", "stale", ...; docs/METRICS.md); absent when none was.
  // Each one has its UpdateRejectedEvent (a stale one's is recorded when
  // it is refused, and counted in the next round event).
  std::optional<std::map<std::string, int>> updates_rejected;
  // When the round took more than one attempt (see RoundFailedEvent).
  std::optional<int> attempts;
  // Sampled clients whose exchange failed (connection lost, the client's
  // error, the deadline before it had its task), and those still training
  // when the round closed at its deadline; absent when 0.
  std::optional<int> clients_dropped, clients_late;
  // The coordinator's resident set size when the round was recorded
  // (bytes; absent where /proc cannot tell), so memory growth over a long
  // run shows.
  std::optional<uint64_t> rss_bytes;
  bool operator==(const RoundEvent&) const = default;
};

// An attempt at a round that ended below quorum (or could not start for
// want of clients); the round is tried again with a fresh sample, or the
// run stops after --max-failed-rounds of them in a row.
struct RoundFailedEvent {
  static constexpr std::string_view kName = "round_failed";
  int round = 0;
  int attempt = 0;  // 1 for the round's first
  int clients_sampled = 0;
  int clients_reported = 0;
  int quorum = 0;  // updates it needed
  std::string reason;
  double seconds = 0.0;  // since the round's first attempt began
  std::optional<std::map<std::string, int>> updates_rejected;
  std::optional<int> clients_dropped, clients_late;
  bool operator==(const RoundFailedEvent&) const = default;
};

// Mean accuracy over the seen, the unseen and the validation evaluation
// clients (JSON: seen_accuracy, unseen_accuracy, validation_accuracy);
// empty when there are none of that kind. A reference method that could
// not be scored has no numbers and says why in `error`.
struct SplitAccuracy {
  std::optional<double> seen;
  std::optional<double> unseen;
  std::optional<std::string> error = {};  // "= {}": aggregates may omit it
  // Validation clients cut from the training split (--validation-clients);
  // the reference methods leave them out.
  std::optional<double> validation = {};
  bool operator==(const SplitAccuracy&) const = default;
};

// One evaluation client's score (JSON kind: "seen", "unseen" or
// "validation").
struct ClientAccuracy {
  std::string name;
  common::EvalClientKind kind = common::EvalClientKind::kSeen;
  std::vector<int64_t> labels;  // the classes it holds
  double accuracy = 0.0;
  std::optional<std::vector<int>> experts;  // fedjets: the ones it picked
  bool operator==(const ClientAccuracy&) const = default;
};

// Every --eval-every rounds and after the last.
struct EvalEvent {
  static constexpr std::string_view kName = "eval";
  int round = 0;
  std::string algorithm;
  double test_accuracy = 0.0;
  SplitAccuracy accuracy;  // flattened: seen_, unseen_, validation_accuracy
  std::vector<ClientAccuracy> clients;
  // fedjets: on unseen clients; anchor_routed_accuracy needs anchors.
  std::optional<double> routing_accuracy, gate_entropy;
  std::optional<double> anchor_routed_accuracy;
  // fedjets --generalist-expert: the share of unseen clients' test samples
  // served by the generalist expert.
  std::optional<double> generalist_share;
  bool operator==(const EvalEvent&) const = default;
};

// After the last round: reference methods on the evaluation clients.
struct BaselinesEvent {
  static constexpr std::string_view kName = "baselines";
  std::optional<SplitAccuracy> common, local, oracle;
  bool operator==(const BaselinesEvent&) const = default;
};

// Just-in-time serving with the centrally trained reference gate.
struct ReferenceGateEval {
  SplitAccuracy accuracy;  // flattened: seen_accuracy, unseen_accuracy
  std::optional<double> routing_accuracy;
  bool operator==(const ReferenceGateEval&) const = default;
};

// After the last round (fedjets): where unseen clients' samples went.
struct RoutingEvent {
  static constexpr std::string_view kName = "routing";
  std::vector<std::vector<int64_t>> confusion;       // [class][expert] counts
  std::vector<std::vector<int64_t>> anchor_classes;  // per expert
  std::optional<ReferenceGateEval> reference_gate;
  bool operator==(const RoutingEvent&) const = default;
};

// Once, when the run completed.
struct EndEvent {
  static constexpr std::string_view kName = "end";
  uint64_t rounds = 0;
  double final_test_accuracy = 0.0;
  uint64_t full_model_bytes = 0;
  double bytes_per_client_round = 0.0;
  SplitAccuracy accuracy;  // flattened: seen_, unseen_, validation_accuracy
  bool operator==(const EndEvent&) const = default;
};

// An event kind this version does not know (a newer writer's): readers
// skip it.
struct OtherEvent {
  std::string name;
  bool operator==(const OtherEvent&) const = default;
};

using Event = std::variant<StartEvent, UpdateEvent, UpdateRejectedEvent,
                           RoundEvent, RoundFailedEvent, EvalEvent,
                           BaselinesEvent, RoutingEvent, EndEvent, OtherEvent>;

// The line for `event`, without the trailing newline.
std::string EventLine(const Event& event);

// Parses one line. InvalidArgument when it is not a JSON object, has no
// "event", or a field of a known event is missing (and not optional) or of
// the wrong type; the message names the event and the field.
common::Result<Event> ParseEvent(std::string_view line);

// nlohmann::json conversions (JSON without "event"). from_json throws
// std::invalid_argument naming the field; ParseEvent is the non-throwing
// entry point.
void to_json(nlohmann::json& j, const StartEvent& e);
void to_json(nlohmann::json& j, const UpdateEvent& e);
void to_json(nlohmann::json& j, const UpdateRejectedEvent& e);
void to_json(nlohmann::json& j, const RoundEvent& e);
void to_json(nlohmann::json& j, const RoundFailedEvent& e);
void to_json(nlohmann::json& j, const SplitAccuracy& a);
void to_json(nlohmann::json& j, const ClientAccuracy& c);
void to_json(nlohmann::json& j, const EvalEvent& e);
void to_json(nlohmann::json& j, const BaselinesEvent& e);
void to_json(nlohmann::json& j, const ReferenceGateEval& s);
void to_json(nlohmann::json& j, const RoutingEvent& e);
void to_json(nlohmann::json& j, const EndEvent& e);
void from_json(const nlohmann::json& j, StartEvent& e);
void from_json(const nlohmann::json& j, UpdateEvent& e);
void from_json(const nlohmann::json& j, UpdateRejectedEvent& e);
void from_json(const nlohmann::json& j, RoundEvent& e);
void from_json(const nlohmann::json& j, RoundFailedEvent& e);
void from_json(const nlohmann::json& j, SplitAccuracy& a);
void from_json(const nlohmann::json& j, ClientAccuracy& c);
void from_json(const nlohmann::json& j, EvalEvent& e);
void from_json(const nlohmann::json& j, BaselinesEvent& e);
void from_json(const nlohmann::json& j, ReferenceGateEval& s);
void from_json(const nlohmann::json& j, RoutingEvent& e);
void from_json(const nlohmann::json& j, EndEvent& e);

}  // namespace fedjets::coordinator
