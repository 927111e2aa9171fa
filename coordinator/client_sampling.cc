#include "coordinator/client_sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/base/seeded_random.h"

namespace fedjets::coordinator {

RoundDraw DrawRound(const std::vector<Candidate>& candidates,
                    int clients_per_round, double anchor_share,
                    std::mt19937_64& rng) {
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return candidates[a].name < candidates[b].name;
  });
  RoundDraw draw;
  for (size_t i : order) {
    (candidates[i].anchor ? draw.anchors : draw.normal).push_back(i);
  }
  common::PairedShuffle(draw.anchors, rng);
  common::PairedShuffle(draw.normal, rng);
  const int all = static_cast<int>(candidates.size());
  const int n = clients_per_round > 0 ? std::min(clients_per_round, all) : all;
  const int have_anchors = static_cast<int>(draw.anchors.size());
  const int have_normal = static_cast<int>(draw.normal.size());
  draw.anchors_wanted = static_cast<int>(std::lround(n * anchor_share));
  int n_anchor = std::min(have_anchors, draw.anchors_wanted);
  const int n_normal = std::min(have_normal, n - n_anchor);
  n_anchor = std::min(have_anchors, n - n_normal);  // fill up
  draw.anchors.resize(n_anchor);
  draw.normal.resize(n_normal);
  return draw;
}

}  // namespace fedjets::coordinator
