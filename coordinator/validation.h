// What the coordinator accepts from a client, checked at the boundary
// before any of it is used: a Hello at admission, an Update before it is
// averaged (docs/PROTOCOL.md, "Limits"). Pure functions over received
// messages, free of I/O and LibTorch; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/base/status.h"
#include "common/net/tensor_codec.h"
#include "proto/fedjets.pb.h"

namespace fedjets::coordinator {

// A client name is 1..kMaxClientNameBytes bytes of [A-Za-z0-9._-]: it goes
// into log lines, metrics.jsonl and file names, so it may hold nothing that
// could forge a line or a path.
inline constexpr size_t kMaxClientNameBytes = 64;
// The most local samples a client may declare (and so weigh with).
inline constexpr int64_t kMaxClientSamples = 1'000'000'000;

// InvalidArgument naming the field and the allowed range, else OK.
common::Status CheckClientName(std::string_view name);

// Checks a Hello's client_name, num_samples in [1, kMaxClientSamples] and,
// when num_experts > 0 (FedJETs), its anchor_expert, if present, in
// [0, num_experts). With num_experts == 0 an anchor is ignored, as the
// algorithm does. The error names the field and the allowed range.
common::Status ValidateHello(const proto::Hello& hello, int num_experts);

// Checks that every float32/float64 value in `params` is finite; the error
// names the first tensor and element that is not. One pass over the bytes.
common::Status CheckFinite(const common::ParameterList& params);

// Why an update was refused: `reason` is the key it is counted under in the
// round event's updates_rejected ("num_samples", "non_finite_loss",
// "non_finite", "l2_norm"); `status` is what the log and the client are
// told.
struct UpdateRejection {
  std::string reason;
  common::Status status;
};

// The operator's bounds on an Update (--max-update-samples,
// --max-update-norm).
struct UpdateLimits {
  int64_t max_samples = kMaxClientSamples;
  // Largest L2 norm of the update's delta (its parameters minus those the
  // client was sent); 0 = unbounded.
  double max_delta_norm = 0;
};

// Checks an Update's num_samples in [1, declared_samples] (what the client
// declared in its Hello) and at most limits.max_samples, then that its
// train_loss and every value of `params` are finite, then, with
// limits.max_delta_norm, that ||params - start|| is within it (`start`: what
// the client was sent, in the order of `params`). Empty when the update may
// be averaged.
std::optional<UpdateRejection> ValidateUpdate(
    int64_t num_samples, int64_t declared_samples, double train_loss,
    const common::ParameterList& params,
    const common::ParameterList& start = {}, const UpdateLimits& limits = {});

}  // namespace fedjets::coordinator
