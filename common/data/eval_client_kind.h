// What an evaluation client of a simulated federation stands for
// (common/data/federation_split.h), and its name in metrics.jsonl's
// per-client scores. Header-only and dependency-free, so that the metrics
// events (coordinator/metrics/events.h) use it without linking the data
// library.
#pragma once

#include <optional>
#include <string_view>

namespace fedjets::common {

enum class EvalClientKind {
  // The label mix of a training client; examples from the test split.
  kSeen,
  // A label mix no training client holds (where the layout has one);
  // examples from the test split. What zero-shot serving is measured on.
  kUnseen,
  // Drawn as the unseen ones are, but its examples come from the
  // validation slice cut from the training split (--validation-clients):
  // hyper-parameters are chosen on these, never on the test clients.
  kValidation,
};

// "seen", "unseen" or "validation".
constexpr std::string_view EvalClientKindName(EvalClientKind kind) {
  switch (kind) {
    case EvalClientKind::kSeen:
      return "seen";
    case EvalClientKind::kUnseen:
      return "unseen";
    case EvalClientKind::kValidation:
      return "validation";
  }
  return "seen";
}

// The kind named `name`, or nothing for an unknown name.
constexpr std::optional<EvalClientKind> ParseEvalClientKind(
    std::string_view name) {
  for (EvalClientKind k : {EvalClientKind::kSeen, EvalClientKind::kUnseen,
                           EvalClientKind::kValidation}) {
    if (EvalClientKindName(k) == name) return k;
  }
  return std::nullopt;
}

}  // namespace fedjets::common
