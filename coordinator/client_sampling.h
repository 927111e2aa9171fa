// Which clients train in a round: a seeded draw of anchors and normal
// clients (FedJETs) or of plain clients (FedAvg/FedProx). Pure; torch-free.
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <vector>

namespace fedjets::coordinator {

struct Candidate {
  std::string name;     // unique per client
  bool anchor = false;  // an anchor client (FedJETs)
};

struct RoundDraw {
  std::vector<size_t> anchors;  // indices into the candidates
  std::vector<size_t> normal;
  // round(n × anchor_share): the anchors the share asked for, which may be
  // more than there were.
  int anchors_wanted = 0;
};

// Draws min(clients_per_round, all) clients (0 = all): round(n ×
// anchor_share) anchors, the rest normal; when either kind runs short the
// other fills up. The draw depends on the names and `rng` only, not on the
// order of `candidates` (clients join in network order).
RoundDraw DrawRound(const std::vector<Candidate>& candidates,
                    int clients_per_round, double anchor_share,
                    std::mt19937_64& rng);

}  // namespace fedjets::coordinator
