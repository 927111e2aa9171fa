#include "common/learn/update_bounds.h"

#include <fmt/format.h>

#include <cmath>

#include "common/base/seeded_random.h"

namespace fedjets::common {
namespace {

Status CheckFloat32(const ParameterList& params) {
  for (const auto& t : params) {
    if (t.dtype != proto::DTYPE_FLOAT32) {
      return InvalidArgument(fmt::format("parameter '{}' is {}, not float32",
                                         t.name, DTypeName(t.dtype)));
    }
    FEDJETS_RETURN_IF_ERROR(ValidateTensor(t));
  }
  return Status::Ok();
}

Status CheckPair(const ParameterList& params, const ParameterList& start) {
  FEDJETS_RETURN_IF_ERROR(CheckParameterList(start, params)
                              .Annotate("update does not match what the "
                                        "client was sent"));
  FEDJETS_RETURN_IF_ERROR(CheckFloat32(start));
  return CheckFloat32(params);
}

}  // namespace

Result<double> DeltaL2Norm(const ParameterList& params,
                           const ParameterList& start) {
  FEDJETS_RETURN_IF_ERROR(CheckPair(params, start));
  double sum = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const auto* p = reinterpret_cast<const float*>(params[i].bytes.data());
    const auto* s = reinterpret_cast<const float*>(start[i].bytes.data());
    const size_t n = params[i].bytes.size() / sizeof(float);
    for (size_t j = 0; j < n; ++j) {
      const double d = static_cast<double>(p[j]) - static_cast<double>(s[j]);
      sum += d * d;
    }
  }
  return std::sqrt(sum);
}

Status ClipDelta(ParameterList& params, const ParameterList& start,
                 double max_norm) {
  if (!(max_norm > 0)) {
    return InvalidArgument(
        fmt::format("clip norm {} must be positive", max_norm));
  }
  auto norm = DeltaL2Norm(params, start);
  if (!norm.ok()) return norm.status();
  if (!std::isfinite(*norm)) {
    return InvalidArgument(
        fmt::format("update delta has norm {}; cannot clip it", *norm));
  }
  if (*norm <= max_norm) return Status::Ok();
  const double scale = max_norm / *norm;
  for (size_t i = 0; i < params.size(); ++i) {
    auto* p = reinterpret_cast<float*>(params[i].bytes.data());
    const auto* s = reinterpret_cast<const float*>(start[i].bytes.data());
    const size_t n = params[i].bytes.size() / sizeof(float);
    for (size_t j = 0; j < n; ++j) {
      const double d = static_cast<double>(p[j]) - static_cast<double>(s[j]);
      p[j] = static_cast<float>(static_cast<double>(s[j]) + d * scale);
    }
  }
  return Status::Ok();
}

Status AddGaussianNoise(ParameterList& params, double stddev,
                        std::mt19937_64& rng) {
  if (!(stddev >= 0) || !std::isfinite(stddev)) {
    return InvalidArgument(fmt::format(
        "noise standard deviation {} must be finite and >= 0", stddev));
  }
  FEDJETS_RETURN_IF_ERROR(CheckFloat32(params));
  for (auto& t : params) {
    auto* p = reinterpret_cast<float*>(t.bytes.data());
    const size_t n = t.bytes.size() / sizeof(float);
    for (size_t j = 0; j < n; ++j) {
      p[j] = static_cast<float>(static_cast<double>(p[j]) +
                                stddev * StandardNormal(rng));
    }
  }
  return Status::Ok();
}

}  // namespace fedjets::common
