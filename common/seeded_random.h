// Portable seeded randomness for data splits: std::mt19937_64 (fully
// specified by the standard) with our own bounded draw and shuffle, because
// std::uniform_int_distribution and std::shuffle are implementation-defined
// and would tie experiment splits to one standard library. Stateless
// helpers; the caller owns the engine.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace fedjets::common {

// Uniform in [0, n), n >= 1, unbiased: draws below 2^64 mod n are rejected
// so that every residue is equally likely.
inline uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n) {
  const uint64_t reject_below = (0 - n) % n;
  for (;;) {
    const uint64_t r = rng();
    if (r >= reject_below) return r % n;
  }
}

// Fisher-Yates.
template <typename T>
void Shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    std::swap(v[i - 1], v[UniformBelow(rng, i)]);
  }
}

}  // namespace fedjets::common
