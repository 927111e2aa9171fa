#include "common/learn/aggregate.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

namespace fedjets::common {
namespace {

// Every input matches the first one's names and shapes, and every tensor is
// float32 with as many bytes as its shape says.
Status CheckInputs(const std::vector<WeightedParameters>& inputs) {
  if (inputs.empty()) return InvalidArgument("nothing to average");
  const ParameterList& first = *inputs.front().params;
  for (size_t k = 1; k < inputs.size(); ++k) {
    if (Status st = CheckParameterList(first, *inputs[k].params); !st.ok()) {
      return st.Annotate(fmt::format("update {} does not match update 0", k));
    }
  }
  for (size_t i = 0; i < first.size(); ++i) {
    if (first[i].dtype != proto::DTYPE_FLOAT32) {
      return InvalidArgument(
          fmt::format("parameter '{}' is {}, only float32 "
                      "is averaged",
                      first[i].name, DTypeName(first[i].dtype)));
    }
    for (const auto& in : inputs) {
      FEDJETS_RETURN_IF_ERROR(ValidateTensor((*in.params)[i]));
    }
  }
  return Status::Ok();
}

const float* Floats(const WireTensor& t) {
  return reinterpret_cast<const float*>(t.bytes.data());
}

// A strict weak order on floats that puts NaN above every number, so that
// sorting a buffer holding NaN stays well defined.
bool NumberLess(float a, float b) {
  return a < b || (std::isnan(b) && !std::isnan(a));
}

// Median of buf[0..n), n >= 1; reorders buf.
float MedianOf(float* buf, size_t n) {
  const size_t mid = n / 2;
  std::nth_element(buf, buf + mid, buf + n, NumberLess);
  if (n % 2 == 1) return buf[mid];
  // After nth_element, buf[0..mid) holds the lower half.
  const float lower = *std::max_element(buf, buf + mid, NumberLess);
  return static_cast<float>(
      (static_cast<double>(lower) + static_cast<double>(buf[mid])) / 2);
}

// Mean of buf[0..n) without its `trim` lowest and `trim` highest values,
// n > 2 * trim; reorders buf.
float TrimmedMeanOf(float* buf, size_t n, size_t trim) {
  if (trim > 0) {
    std::nth_element(buf, buf + trim, buf + n, NumberLess);
    std::nth_element(buf + trim, buf + (n - trim), buf + n, NumberLess);
  }
  double sum = 0;
  for (size_t j = trim; j < n - trim; ++j) sum += buf[j];
  return static_cast<float>(sum / static_cast<double>(n - 2 * trim));
}

// Applies `combine(buf, n)` to every coordinate: buf holds that value of
// each input, in input order.
template <typename Combine>
Result<ParameterList> CoordinateWise(
    const std::vector<WeightedParameters>& inputs, Combine combine) {
  FEDJETS_RETURN_IF_ERROR(CheckInputs(inputs));
  const ParameterList& first = *inputs.front().params;
  const size_t n = inputs.size();
  std::vector<const float*> src(n);
  std::vector<float> buf(n);
  ParameterList out;
  out.reserve(first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    for (size_t k = 0; k < n; ++k) src[k] = Floats((*inputs[k].params)[i]);
    const size_t count = static_cast<size_t>(first[i].NumElements());
    WireTensor t{first[i].name, first[i].dtype, first[i].shape, {}};
    t.bytes.resize(count * sizeof(float));
    auto* dst = reinterpret_cast<float*>(t.bytes.data());
    for (size_t j = 0; j < count; ++j) {
      for (size_t k = 0; k < n; ++k) buf[k] = src[k][j];
      dst[j] = combine(buf.data(), n);
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

Result<ParameterList> WeightedAverage(
    const std::vector<WeightedParameters>& inputs) {
  if (inputs.empty()) return InvalidArgument("nothing to average");
  double total = 0.0;
  for (const auto& in : inputs) {
    if (in.weight < 0) {
      return InvalidArgument(fmt::format("negative weight {}", in.weight));
    }
    total += in.weight;
  }
  if (total <= 0) return InvalidArgument("weights sum to zero");
  FEDJETS_RETURN_IF_ERROR(CheckInputs(inputs));
  const ParameterList& first = *inputs.front().params;
  ParameterList out;
  out.reserve(first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    const size_t n = static_cast<size_t>(first[i].NumElements());
    std::vector<double> acc(n, 0.0);
    for (const auto& in : inputs) {
      const double w = in.weight / total;
      const float* src = Floats((*in.params)[i]);
      for (size_t j = 0; j < n; ++j) acc[j] += w * static_cast<double>(src[j]);
    }
    WireTensor t{first[i].name, first[i].dtype, first[i].shape, {}};
    t.bytes.resize(n * sizeof(float));
    auto* dst = reinterpret_cast<float*>(t.bytes.data());
    for (size_t j = 0; j < n; ++j) dst[j] = static_cast<float>(acc[j]);
    out.push_back(std::move(t));
  }
  return out;
}

namespace {

// Folds K updates into the compensated sums s, c of n values, in order.
// TwoSum: t + e == s + p exactly; branch-free, so it vectorises over j.
template <int K>
void FoldInto(double* s, double* c, const float* const* xs, const double* ws,
              size_t n) {
  std::array<const float*, K> x;
  std::array<double, K> w;
  for (int k = 0; k < K; ++k) {
    x[k] = xs[k];
    w[k] = ws[k];
  }
  for (size_t j = 0; j < n; ++j) {
    double sj = s[j];
    double cj = c[j];
    for (int k = 0; k < K; ++k) {
      const double p = w[k] * static_cast<double>(x[k][j]);
      const double t = sj + p;
      const double z = t - sj;
      cj += (sj - (t - z)) + (p - z);
      sj = t;
    }
    s[j] = sj;
    c[j] = cj;
  }
}

}  // namespace

Status StreamingMean::Add(const ParameterList& update, double weight) {
  return Add(std::vector<WeightedParameters>{{&update, weight}});
}

Status StreamingMean::Add(const std::vector<WeightedParameters>& updates) {
  for (size_t k = 0; k < updates.size(); ++k) {
    const double weight = updates[k].weight;
    if (!(weight >= 0 && std::isfinite(weight))) {
      return InvalidArgument(
          fmt::format("weight {} must be finite and >= 0", weight));
    }
    const ParameterList& update = *updates[k].params;
    const ParameterList& want = count_ == 0 ? *updates[0].params : layout_;
    if (count_ == 0 && k == 0) {
      FEDJETS_RETURN_IF_ERROR(CheckInputs({updates[0]}));
      continue;
    }
    if (Status st = CheckParameterList(want, update); !st.ok()) {
      return st.Annotate(fmt::format("update {} does not match update 0",
                                     count_ + static_cast<int>(k)));
    }
    for (const WireTensor& t : update) {
      FEDJETS_RETURN_IF_ERROR(ValidateTensor(t));
    }
  }
  if (updates.empty()) return Status::Ok();
  if (count_ == 0) {
    layout_.clear();
    sum_.clear();
    compensation_.clear();
    for (const WireTensor& t : *updates[0].params) {
      layout_.push_back({t.name, t.dtype, t.shape, {}});
      sum_.emplace_back(static_cast<size_t>(t.NumElements()), 0.0);
      compensation_.emplace_back(static_cast<size_t>(t.NumElements()), 0.0);
    }
  }
  constexpr size_t kGroup = 4;
  std::vector<const float*> x(updates.size());
  std::vector<double> w(updates.size());
  for (size_t i = 0; i < layout_.size(); ++i) {
    for (size_t k = 0; k < updates.size(); ++k) {
      x[k] = Floats((*updates[k].params)[i]);
      w[k] = updates[k].weight;
    }
    double* s = sum_[i].data();
    double* c = compensation_[i].data();
    const size_t n = sum_[i].size();
    for (size_t k = 0; k < updates.size(); k += kGroup) {
      switch (std::min(kGroup, updates.size() - k)) {
        case 4:
          FoldInto<4>(s, c, &x[k], &w[k], n);
          break;
        case 3:
          FoldInto<3>(s, c, &x[k], &w[k], n);
          break;
        case 2:
          FoldInto<2>(s, c, &x[k], &w[k], n);
          break;
        default:
          FoldInto<1>(s, c, &x[k], &w[k], n);
      }
    }
  }
  for (const auto& u : updates) total_weight_ += u.weight;
  count_ += static_cast<int>(updates.size());
  return Status::Ok();
}

Result<ParameterList> StreamingMean::Mean() const {
  if (count_ == 0) return InvalidArgument("nothing to average");
  if (total_weight_ <= 0) return InvalidArgument("weights sum to zero");
  ParameterList out = layout_;
  for (size_t i = 0; i < out.size(); ++i) {
    const size_t n = sum_[i].size();
    out[i].bytes.resize(n * sizeof(float));
    auto* dst = reinterpret_cast<float*>(out[i].bytes.data());
    for (size_t j = 0; j < n; ++j) {
      dst[j] = static_cast<float>((sum_[i][j] + compensation_[i][j]) /
                                  total_weight_);
    }
  }
  return out;
}

Result<ParameterList> CoordinateMedian(
    const std::vector<WeightedParameters>& inputs) {
  return CoordinateWise(inputs, MedianOf);
}

Result<ParameterList> CoordinateTrimmedMean(
    const std::vector<WeightedParameters>& inputs, double trim_fraction) {
  if (!(trim_fraction >= 0 && trim_fraction < 0.5)) {
    return InvalidArgument(
        fmt::format("trim fraction {} must be in [0, 0.5)", trim_fraction));
  }
  const size_t n = inputs.size();
  // The epsilon keeps e.g. 0.29 * 100 = 28.999999999999996 from losing one.
  const auto trim = static_cast<size_t>(std::floor(trim_fraction * n + 1e-9));
  if (trim_fraction > 0 && trim == 0) return CoordinateMedian(inputs);
  return CoordinateWise(inputs, [trim](float* buf, size_t count) {
    return TrimmedMeanOf(buf, count, trim);
  });
}

Result<AggregationRule> ParseAggregationRule(std::string_view name) {
  if (name == "mean") return AggregationRule::kMean;
  if (name == "median") return AggregationRule::kMedian;
  if (name == "trimmed-mean") return AggregationRule::kTrimmedMean;
  return InvalidArgument(fmt::format(
      "--aggregation '{}': use mean, median or trimmed-mean", name));
}

Result<ParameterList> Aggregate(const std::vector<WeightedParameters>& inputs,
                                const AggregationOptions& options) {
  switch (options.rule) {
    case AggregationRule::kMedian:
      return CoordinateMedian(inputs);
    case AggregationRule::kTrimmedMean:
      return CoordinateTrimmedMean(inputs, options.trim_fraction);
    case AggregationRule::kMean:
      break;
  }
  return WeightedAverage(inputs);
}

}  // namespace fedjets::common
