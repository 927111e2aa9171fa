// A small labelled dataset for the coordinator's tests: four
// well-separated classes in 8 dimensions, class c centred on +4 in
// coordinate c.
#pragma once

#include <random>

#include "common/data/dataset.h"

namespace fedjets::coordinator {

inline common::Dataset Blobs(int per_class, uint64_t seed) {
  common::Dataset d;
  d.name = "blobs";
  d.example_shape = {8};
  d.num_classes = 4;
  d.class_names = {"a", "b", "c", "d"};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.f, 0.5f);
  for (int i = 0; i < per_class; ++i) {
    for (int c = 0; c < 4; ++c) {
      for (int f = 0; f < 8; ++f)
        d.features.push_back((f == c ? 4.f : 0.f) + noise(rng));
      d.labels.push_back(c);
    }
  }
  return d;
}

}  // namespace fedjets::coordinator
