#include "coordinator/metrics/events.h"

#include <fmt/format.h>

#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace fedjets::coordinator {
namespace {

using nlohmann::json;

template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};
template <typename T>
struct IsStringMap : std::false_type {};
template <typename T>
struct IsStringMap<std::map<std::string, T>> : std::true_type {};

[[noreturn]] void WrongType(const json& j, const std::string& path,
                            const char* expected) {
  const char* article = j.is_array() || j.is_object() ? "an" : "a";
  throw std::invalid_argument(fmt::format("field \"{}\" is {} {}, expected {}",
                                          path, article, j.type_name(),
                                          expected));
}

// The fields of one JSON object; `prefix` names the object in errors
// ("reference_gate." for a nested one, "" at the top).
class Fields {
 public:
  Fields(const json& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  template <typename T>
  void Required(const char* key, T& out) const {
    auto it = object_.find(key);
    if (it == object_.end()) {
      throw std::invalid_argument(
          fmt::format("missing field \"{}\"", Name(key)));
    }
    Read(*it, Name(key), out);
  }

  // The field as errors name it.
  std::string Name(const char* key) const { return prefix_ + key; }

  // Absent or null leaves `out` empty.
  template <typename T>
  void Optional(const char* key, std::optional<T>& out) const {
    out.reset();
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return;
    Read(*it, Name(key), out.emplace());
  }

 private:
  template <typename T>
  static void Read(const json& j, const std::string& path, T& out);

  const json& object_;
  std::string prefix_;
};

void ReadFields(const Fields& f, SplitAccuracy& a) {
  f.Optional("seen_accuracy", a.seen);
  f.Optional("unseen_accuracy", a.unseen);
  f.Optional("validation_accuracy", a.validation);
  f.Optional("error", a.error);
}

void ReadFields(const Fields& f, ClientAccuracy& c) {
  f.Required("name", c.name);
  std::string kind;
  f.Required("kind", kind);
  auto parsed = common::ParseEvalClientKind(kind);
  if (!parsed) {
    throw std::invalid_argument(
        fmt::format("field \"{}\" is \"{}\", expected \"seen\", \"unseen\" or "
                    "\"validation\"",
                    f.Name("kind"), kind));
  }
  c.kind = *parsed;
  f.Required("labels", c.labels);
  f.Required("accuracy", c.accuracy);
  f.Optional("experts", c.experts);
}

void ReadFields(const Fields& f, ReferenceGateEval& s) {
  ReadFields(f, s.accuracy);
  f.Optional("routing_accuracy", s.routing_accuracy);
}

template <typename T>
void Fields::Read(const json& j, const std::string& path, T& out) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) WrongType(j, path, "a string");
    out = j.get<std::string>();
  } else if constexpr (std::is_same_v<T, double>) {
    if (j.is_null()) {  // how NaN and infinities are written
      out = std::numeric_limits<double>::quiet_NaN();
    } else {
      if (!j.is_number()) WrongType(j, path, "a number");
      out = j.get<double>();
    }
  } else if constexpr (std::is_integral_v<T>) {
    if (std::is_unsigned_v<T> ? !j.is_number_unsigned()
                              : !j.is_number_integer()) {
      WrongType(
          j, path,
          std::is_unsigned_v<T> ? "a non-negative integer" : "an integer");
    }
    using Wide = std::conditional_t<std::is_unsigned_v<T>, uint64_t, int64_t>;
    const Wide v = j.get<Wide>();
    if (!std::in_range<T>(v)) {
      throw std::invalid_argument(
          fmt::format("field \"{}\" is {}, out of range", path, v));
    }
    out = static_cast<T>(v);
  } else if constexpr (IsVector<T>::value) {
    if (!j.is_array()) WrongType(j, path, "an array");
    out.assign(j.size(), {});
    for (size_t i = 0; i < j.size(); ++i) {
      Read(j[i], fmt::format("{}[{}]", path, i), out[i]);
    }
  } else if constexpr (IsStringMap<T>::value) {
    if (!j.is_object()) WrongType(j, path, "an object");
    out.clear();
    for (const auto& [key, value] : j.items()) {
      Read(value, fmt::format("{}.{}", path, key), out[key]);
    }
  } else {
    if (!j.is_object()) WrongType(j, path, "an object");
    ReadFields(Fields(j, path + "."), out);
  }
}

// Adds the fields of `a` to the object `j` (flattened, not nested).
void PutAccuracy(json& j, const SplitAccuracy& a) {
  if (a.seen) j["seen_accuracy"] = *a.seen;
  if (a.unseen) j["unseen_accuracy"] = *a.unseen;
  if (a.validation) j["validation_accuracy"] = *a.validation;
  if (a.error) j["error"] = *a.error;
}

template <typename T>
Event Parse(const json& j) {
  T e;
  from_json(j, e);
  return e;
}

}  // namespace

void to_json(json& j, const StartEvent& e) {
  j = {{"run_id", e.run_id},
       {"algorithm", e.algorithm},
       {"seed", e.seed},
       {"test_accuracy", e.test_accuracy}};
  if (e.common_expert_accuracy) {
    j["common_expert_accuracy"] = *e.common_expert_accuracy;
  }
  if (e.num_experts) j["num_experts"] = *e.num_experts;
  if (e.top_k) j["top_k"] = *e.top_k;
}

void from_json(const json& j, StartEvent& e) {
  Fields f(j, "");
  f.Required("run_id", e.run_id);
  f.Required("algorithm", e.algorithm);
  f.Required("seed", e.seed);
  f.Required("test_accuracy", e.test_accuracy);
  f.Optional("common_expert_accuracy", e.common_expert_accuracy);
  f.Optional("num_experts", e.num_experts);
  f.Optional("top_k", e.top_k);
}

void to_json(json& j, const UpdateEvent& e) {
  j = {{"round", e.round},           {"client", e.client},
       {"samples", e.samples},       {"train_loss", e.train_loss},
       {"bytes_sent", e.bytes_sent}, {"bytes_received", e.bytes_received}};
  if (!e.role.empty()) {
    j["role"] = e.role;
    j["experts"] = e.experts;
  }
}

void from_json(const json& j, UpdateEvent& e) {
  Fields f(j, "");
  f.Required("round", e.round);
  f.Required("client", e.client);
  f.Required("samples", e.samples);
  f.Required("train_loss", e.train_loss);
  f.Required("bytes_sent", e.bytes_sent);
  f.Required("bytes_received", e.bytes_received);
  std::optional<std::string> role;
  f.Optional("role", role);
  e.role = role.value_or("");
  e.experts.clear();
  if (role) f.Required("experts", e.experts);
}

void to_json(json& j, const UpdateRejectedEvent& e) {
  j = {{"round", e.round},
       {"client", e.client},
       {"reason", e.reason},
       {"message", e.message}};
}

void from_json(const json& j, UpdateRejectedEvent& e) {
  Fields f(j, "");
  f.Required("round", e.round);
  f.Required("client", e.client);
  f.Required("reason", e.reason);
  f.Required("message", e.message);
}

void to_json(json& j, const RoundEvent& e) {
  j = {{"round", e.round},
       {"clients_sampled", e.clients_sampled},
       {"clients_reported", e.clients_reported},
       {"train_loss", e.train_loss},
       {"bytes_sent", e.bytes_sent},
       {"bytes_received", e.bytes_received},
       {"seconds", e.seconds}};
  if (e.test_accuracy) j["test_accuracy"] = *e.test_accuracy;
  if (e.validation_accuracy) {
    j["validation_accuracy"] = *e.validation_accuracy;
  }
  if (e.expert_load) j["expert_load"] = *e.expert_load;
  if (e.updates_rejected) j["updates_rejected"] = *e.updates_rejected;
  if (e.attempts) j["attempts"] = *e.attempts;
  if (e.clients_dropped) j["clients_dropped"] = *e.clients_dropped;
  if (e.clients_late) j["clients_late"] = *e.clients_late;
  if (e.rss_bytes) j["rss_bytes"] = *e.rss_bytes;
}

void from_json(const json& j, RoundEvent& e) {
  Fields f(j, "");
  f.Required("round", e.round);
  f.Required("clients_sampled", e.clients_sampled);
  f.Required("clients_reported", e.clients_reported);
  f.Required("train_loss", e.train_loss);
  f.Required("bytes_sent", e.bytes_sent);
  f.Required("bytes_received", e.bytes_received);
  f.Required("seconds", e.seconds);
  f.Optional("test_accuracy", e.test_accuracy);
  f.Optional("validation_accuracy", e.validation_accuracy);
  f.Optional("expert_load", e.expert_load);
  f.Optional("updates_rejected", e.updates_rejected);
  f.Optional("attempts", e.attempts);
  f.Optional("clients_dropped", e.clients_dropped);
  f.Optional("clients_late", e.clients_late);
  f.Optional("rss_bytes", e.rss_bytes);
}

void to_json(json& j, const RoundFailedEvent& e) {
  j = {{"round", e.round},
       {"attempt", e.attempt},
       {"clients_sampled", e.clients_sampled},
       {"clients_reported", e.clients_reported},
       {"quorum", e.quorum},
       {"reason", e.reason},
       {"seconds", e.seconds}};
  if (e.updates_rejected) j["updates_rejected"] = *e.updates_rejected;
  if (e.clients_dropped) j["clients_dropped"] = *e.clients_dropped;
  if (e.clients_late) j["clients_late"] = *e.clients_late;
}

void from_json(const json& j, RoundFailedEvent& e) {
  Fields f(j, "");
  f.Required("round", e.round);
  f.Required("attempt", e.attempt);
  f.Required("clients_sampled", e.clients_sampled);
  f.Required("clients_reported", e.clients_reported);
  f.Required("quorum", e.quorum);
  f.Required("reason", e.reason);
  f.Required("seconds", e.seconds);
  f.Optional("updates_rejected", e.updates_rejected);
  f.Optional("clients_dropped", e.clients_dropped);
  f.Optional("clients_late", e.clients_late);
}

void to_json(json& j, const SplitAccuracy& a) {
  j = json::object();
  PutAccuracy(j, a);
}

void from_json(const json& j, SplitAccuracy& a) {
  ReadFields(Fields(j, ""), a);
}

void to_json(json& j, const ClientAccuracy& c) {
  j = {{"name", c.name},
       {"kind", std::string(common::EvalClientKindName(c.kind))},
       {"labels", c.labels},
       {"accuracy", c.accuracy}};
  if (c.experts) j["experts"] = *c.experts;
}

void from_json(const json& j, ClientAccuracy& c) {
  ReadFields(Fields(j, ""), c);
}

void to_json(json& j, const EvalEvent& e) {
  j = {{"round", e.round},
       {"algorithm", e.algorithm},
       {"test_accuracy", e.test_accuracy},
       {"clients", e.clients}};
  PutAccuracy(j, e.accuracy);
  if (e.routing_accuracy) j["routing_accuracy"] = *e.routing_accuracy;
  if (e.gate_entropy) j["gate_entropy"] = *e.gate_entropy;
  if (e.anchor_routed_accuracy) {
    j["anchor_routed_accuracy"] = *e.anchor_routed_accuracy;
  }
  if (e.generalist_share) j["generalist_share"] = *e.generalist_share;
}

void from_json(const json& j, EvalEvent& e) {
  Fields f(j, "");
  f.Required("round", e.round);
  f.Required("algorithm", e.algorithm);
  f.Required("test_accuracy", e.test_accuracy);
  f.Required("clients", e.clients);
  ReadFields(f, e.accuracy);
  f.Optional("routing_accuracy", e.routing_accuracy);
  f.Optional("gate_entropy", e.gate_entropy);
  f.Optional("anchor_routed_accuracy", e.anchor_routed_accuracy);
  f.Optional("generalist_share", e.generalist_share);
}

void to_json(json& j, const BaselinesEvent& e) {
  j = json::object();
  if (e.common) j["common"] = *e.common;
  if (e.local) j["local"] = *e.local;
  if (e.oracle) j["oracle"] = *e.oracle;
}

void from_json(const json& j, BaselinesEvent& e) {
  Fields f(j, "");
  f.Optional("common", e.common);
  f.Optional("local", e.local);
  f.Optional("oracle", e.oracle);
}

void to_json(json& j, const ReferenceGateEval& s) {
  j = json::object();
  PutAccuracy(j, s.accuracy);
  if (s.routing_accuracy) j["routing_accuracy"] = *s.routing_accuracy;
}

void from_json(const json& j, ReferenceGateEval& s) {
  ReadFields(Fields(j, ""), s);
}

void to_json(json& j, const RoutingEvent& e) {
  j = {{"confusion", e.confusion}, {"anchor_classes", e.anchor_classes}};
  if (e.reference_gate) j["reference_gate"] = *e.reference_gate;
}

void from_json(const json& j, RoutingEvent& e) {
  Fields f(j, "");
  f.Required("confusion", e.confusion);
  f.Required("anchor_classes", e.anchor_classes);
  f.Optional("reference_gate", e.reference_gate);
}

void to_json(json& j, const EndEvent& e) {
  j = {{"rounds", e.rounds},
       {"final_test_accuracy", e.final_test_accuracy},
       {"full_model_bytes", e.full_model_bytes},
       {"bytes_per_client_round", e.bytes_per_client_round}};
  PutAccuracy(j, e.accuracy);
}

void from_json(const json& j, EndEvent& e) {
  Fields f(j, "");
  f.Required("rounds", e.rounds);
  f.Required("final_test_accuracy", e.final_test_accuracy);
  f.Required("full_model_bytes", e.full_model_bytes);
  f.Required("bytes_per_client_round", e.bytes_per_client_round);
  ReadFields(f, e.accuracy);
}

std::string EventLine(const Event& event) {
  return std::visit(
      [](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        json j;
        if constexpr (std::is_same_v<T, OtherEvent>) {
          j = {{"event", e.name}};
        } else {
          j = e;
          j["event"] = std::string(T::kName);
        }
        return j.dump();
      },
      event);
}

common::Result<Event> ParseEvent(std::string_view line) {
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return common::DataLoss(
        fmt::format("not JSON: \"{}\"", line.substr(0, 80)));
  }
  if (!j.is_object()) {
    return common::InvalidArgument(
        fmt::format("not a JSON object: \"{}\"", line.substr(0, 80)));
  }
  auto it = j.find("event");
  if (it == j.end() || !it->is_string()) {
    return common::InvalidArgument("no \"event\" field naming the event");
  }
  const std::string name = it->get<std::string>();
  try {
    if (name == StartEvent::kName) return Parse<StartEvent>(j);
    if (name == UpdateEvent::kName) return Parse<UpdateEvent>(j);
    if (name == UpdateRejectedEvent::kName) {
      return Parse<UpdateRejectedEvent>(j);
    }
    if (name == RoundEvent::kName) return Parse<RoundEvent>(j);
    if (name == RoundFailedEvent::kName) return Parse<RoundFailedEvent>(j);
    if (name == EvalEvent::kName) return Parse<EvalEvent>(j);
    if (name == BaselinesEvent::kName) return Parse<BaselinesEvent>(j);
    if (name == RoutingEvent::kName) return Parse<RoutingEvent>(j);
    if (name == EndEvent::kName) return Parse<EndEvent>(j);
  } catch (const std::exception& ex) {  // from_json's, or json::exception
    return common::InvalidArgument(
        fmt::format("\"{}\" event: {}", name, ex.what()));
  }
  return Event(OtherEvent{name});
}

}  // namespace fedjets::coordinator
