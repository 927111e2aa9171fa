// Small MLP experts and gates for the mixture-of-experts tests
// (moe_test.cc, moe_serving_test.cc, moe_generalist_weight_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "common/learn/model.h"
#include "common/learn/moe.h"

namespace fedjets::common {

// `n` MLP experts over 4 features, expert q seeded with q; `pointers`
// views `owned`.
struct Experts {
  std::vector<Classifier> owned;
  std::vector<ClassifierImpl*> pointers;
};

inline Experts MakeExperts(int n, int64_t classes) {
  Experts e;
  for (int q = 0; q < n; ++q) {
    auto c = MakeClassifier({"mlp", {4}, classes, 8}, q);
    if (!c.ok()) {
      ADD_FAILURE() << c.status().ToString();
      break;
    }
    e.owned.push_back(*c);
    e.pointers.push_back(e.owned.back().get());
  }
  return e;
}

// A gate over 4-d embeddings with `specialists` outputs and one more for
// the generalist, whose output bias is set to `generalist_bias`.
inline Gate GeneralistGate(int specialists, float generalist_bias) {
  Gate gate(4, 8, specialists + 1);
  torch::NoGradGuard no_grad;
  for (auto& p : gate->named_parameters()) {
    if (p.key() == "fc2.bias") p.value()[specialists].fill_(generalist_bias);
  }
  return gate;
}

}  // namespace fedjets::common
