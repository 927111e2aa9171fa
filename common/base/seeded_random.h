// Portable seeded randomness for data splits and client sampling:
// std::mt19937_64 (fully specified by the standard) with our own bounded
// draws and shuffles, because std::uniform_int_distribution and std::shuffle
// are implementation-defined and would tie experiments to one standard
// library. Stateless helpers; the caller owns the engine.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
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

// Uniform in [0, n), n >= 1, unbiased: Lemire's multiply-and-reject
// ("Fast Random Integer Generation in an Interval", 2019).
inline uint64_t MultiplyBelow(std::mt19937_64& rng, uint64_t n) {
  unsigned __int128 product = static_cast<unsigned __int128>(rng()) * n;
  uint64_t low = static_cast<uint64_t>(product);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      product = static_cast<unsigned __int128>(rng()) * n;
      low = static_cast<uint64_t>(product);
    }
  }
  return static_cast<uint64_t>(product >> 64);
}

// Fisher-Yates that draws two swap positions from one number (i and i + 1
// from one draw below (i + 1)(i + 2)). This is the algorithm libstdc++ 12
// runs for std::shuffle with a 64-bit engine, written out so that client
// sampling and federation layouts stay what they were when they used
// std::shuffle, with any standard library. Tests check it against
// std::shuffle where the standard library is libstdc++.
template <typename T>
void PairedShuffle(std::vector<T>& v, std::mt19937_64& rng) {
  const uint64_t n = v.size();
  if (n < 2) return;
  if (n > 0xffffffffu) {  // (i + 1)(i + 2) could overflow: one draw per swap
    for (uint64_t i = 1; i < n; ++i)
      std::swap(v[i], v[MultiplyBelow(rng, i + 1)]);
    return;
  }
  uint64_t i = 1;
  if (n % 2 == 0) {
    std::swap(v[i], v[MultiplyBelow(rng, 2)]);
    ++i;
  }
  while (i != n) {
    const uint64_t range = i + 1;
    const uint64_t both = MultiplyBelow(rng, range * (range + 1));
    std::swap(v[i], v[both / (range + 1)]);
    ++i;
    std::swap(v[i], v[both % (range + 1)]);
    ++i;
  }
}

// Standard normal draw (Box-Muller, one of the pair, two engine draws),
// because std::normal_distribution is implementation-defined.
inline double StandardNormal(std::mt19937_64& rng) {
  constexpr double kUnit = 1.0 / 9007199254740992.0;                 // 2^-53
  const double u1 = static_cast<double>((rng() >> 11) + 1) * kUnit;  // (0, 1]
  const double u2 = static_cast<double>(rng() >> 11) * kUnit;        // [0, 1)
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace fedjets::common
