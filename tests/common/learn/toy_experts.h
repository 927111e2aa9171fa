// Small MLP experts for the mixture-of-experts tests (moe_test.cc,
// moe_serving_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "common/learn/model.h"

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

}  // namespace fedjets::common
