#include "common/learn/aggregate.h"

#include <fmt/format.h>

#include <cstring>

namespace fedjets::common {

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
  const ParameterList& first = *inputs.front().params;
  for (size_t k = 1; k < inputs.size(); ++k) {
    if (Status st = CheckParameterList(first, *inputs[k].params); !st.ok()) {
      return st.Annotate(fmt::format("update {} does not match update 0", k));
    }
  }
  ParameterList out;
  out.reserve(first.size());
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
    const size_t n = static_cast<size_t>(first[i].NumElements());
    std::vector<double> acc(n, 0.0);
    for (const auto& in : inputs) {
      const double w = in.weight / total;
      const auto* src =
          reinterpret_cast<const float*>((*in.params)[i].bytes.data());
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

}  // namespace fedjets::common
