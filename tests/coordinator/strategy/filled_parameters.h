// Parameter lists with known values, for checking what an aggregation
// makes of them (tests/coordinator/strategy).
#pragma once

#include <algorithm>

#include "common/net/tensor_codec.h"

namespace fedjets::coordinator {

// `like` (float32 tensors) with every value set to `value`.
inline common::ParameterList Filled(const common::ParameterList& like,
                                    float value) {
  common::ParameterList out = like;
  for (auto& t : out) {
    auto* f = reinterpret_cast<float*>(t.bytes.data());
    std::fill(f, f + t.bytes.size() / 4, value);
  }
  return out;
}

}  // namespace fedjets::coordinator
