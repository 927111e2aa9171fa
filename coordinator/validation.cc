#include "coordinator/validation.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/base/log_quote.h"
#include "common/learn/update_bounds.h"
#include "common/net/cert_identity.h"
#include "coordinator/strategy/strategy_options.h"

namespace fedjets::coordinator {
namespace {

constexpr char kNameRule[] = "1 to 64 bytes of [A-Za-z0-9._-]";
static_assert(kMaxClientNameBytes == 64, "update kNameRule");

// Whether any of the n values of type F (uint32_t for float32, uint64_t for
// float64 bit patterns) at `data` is NaN or infinite, i.e. has every
// exponent bit set. No early exit, so the loop vectorizes: honest updates
// pay one streaming pass.
template <typename Bits>
bool AnyNonFinite(const char* data, size_t n, Bits exponent) {
  bool bad = false;
  for (size_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, data + i * sizeof(Bits), sizeof(Bits));
    bad |= (b & exponent) == exponent;
  }
  return bad;
}

// The first non-finite value among n values of type F at `data` and its
// index (only called once AnyNonFinite said there is one).
template <typename F>
std::pair<size_t, double> FirstNonFinite(const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    F v;
    std::memcpy(&v, data + i * sizeof(F), sizeof(F));
    if (!std::isfinite(v)) return {i, static_cast<double>(v)};
  }
  return {n, 0.0};
}

}  // namespace

common::Status CheckClientName(std::string_view name) {
  if (name.empty()) {
    return common::InvalidArgument(
        fmt::format("Hello.client_name is empty; use {}", kNameRule));
  }
  if (name.size() > kMaxClientNameBytes) {
    return common::InvalidArgument(
        fmt::format("Hello.client_name {} is {} bytes long; use {}",
                    common::QuoteForLog(name), name.size(), kNameRule));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!common::IsClientNameByte(name[i])) {
      return common::InvalidArgument(fmt::format(
          "Hello.client_name {} has byte 0x{:02x} at offset {}; use {}",
          common::QuoteForLog(name), static_cast<unsigned char>(name[i]), i,
          kNameRule));
    }
  }
  return common::Status::Ok();
}

common::Status ValidateHello(const proto::Hello& hello, int num_experts) {
  FEDJETS_RETURN_IF_ERROR(CheckClientName(hello.client_name()));
  const int64_t n = hello.num_samples();
  if (n < 1 || n > kMaxClientSamples) {
    return common::InvalidArgument(
        fmt::format("Hello.num_samples of client '{}' is {}; must be in "
                    "[1, {}]",
                    hello.client_name(), n, kMaxClientSamples));
  }
  if (num_experts > 0 && hello.has_anchor_expert()) {
    const int q = hello.anchor_expert();
    if (q < 0 || q >= num_experts) {
      return common::InvalidArgument(fmt::format(
          "Hello.anchor_expert of client '{}' is {}; must be in [0, {}): "
          "this run has {} experts (--num-experts)",
          hello.client_name(), q, num_experts, num_experts));
    }
  }
  return common::Status::Ok();
}

common::Status CheckFinite(const common::ParameterList& params) {
  for (size_t t = 0; t < params.size(); ++t) {
    const common::WireTensor& w = params[t];
    const char* data = w.bytes.data();
    std::pair<size_t, double> first;
    if (w.dtype == proto::DTYPE_FLOAT32) {
      const size_t n = w.bytes.size() / sizeof(float);
      if (!AnyNonFinite<uint32_t>(data, n, 0x7f80'0000u)) continue;
      first = FirstNonFinite<float>(data, n);
    } else if (w.dtype == proto::DTYPE_FLOAT64) {
      const size_t n = w.bytes.size() / sizeof(double);
      if (!AnyNonFinite<uint64_t>(data, n, 0x7ff0'0000'0000'0000u)) continue;
      first = FirstNonFinite<double>(data, n);
    } else {
      continue;  // integers are always finite
    }
    return common::InvalidArgument(fmt::format(
        "tensor '{}' (index {}) holds {} at element {}; every value must be "
        "finite",
        w.name, t, first.second, first.first));
  }
  return common::Status::Ok();
}

std::optional<UpdateRejection> ValidateUpdate(
    int64_t num_samples, int64_t declared_samples, double train_loss,
    const common::ParameterList& params, const common::ParameterList& start,
    const UpdateLimits& limits) {
  if (num_samples < 1 || num_samples > declared_samples) {
    return UpdateRejection{
        "num_samples",
        common::InvalidArgument(fmt::format(
            "Update.num_samples is {}; must be in [1, {}], the {} samples "
            "the client declared in its Hello",
            num_samples, declared_samples, declared_samples))};
  }
  if (num_samples > limits.max_samples) {
    return UpdateRejection{
        "num_samples",
        common::InvalidArgument(fmt::format(
            "Update.num_samples is {}; this coordinator accepts at most {} "
            "(--max-update-samples)",
            num_samples, limits.max_samples))};
  }
  if (!std::isfinite(train_loss)) {
    return UpdateRejection{
        "non_finite_loss",
        common::InvalidArgument(fmt::format(
            "Update.train_loss is {}; it must be finite", train_loss))};
  }
  if (common::Status st = CheckFinite(params); !st.ok()) {
    return UpdateRejection{"non_finite", st.Annotate("Update")};
  }
  if (limits.max_delta_norm > 0) {
    auto norm = common::DeltaL2Norm(params, start);
    if (!norm.ok()) return UpdateRejection{"l2_norm", norm.status()};
    if (*norm > limits.max_delta_norm) {
      return UpdateRejection{
          "l2_norm", common::InvalidArgument(fmt::format(
                         "the update moves the model by an L2 norm of {:.6g}; "
                         "this coordinator accepts at most {} "
                         "(--max-update-norm)",
                         *norm, limits.max_delta_norm))};
    }
  }
  return std::nullopt;
}

}  // namespace fedjets::coordinator
