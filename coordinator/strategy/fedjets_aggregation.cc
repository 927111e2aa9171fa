// FedJETs' global state: folding a round's updates into the gate and the
// experts, and what it is made of (coordinator/strategy/fedjets_strategy.h).
#include <fmt/format.h>

#include <algorithm>

#include "common/base/atomic_file.h"
#include "coordinator/strategy/fedjets_strategy.h"
#include "coordinator/strategy/update_aggregator.h"

namespace fedjets::coordinator {

using common::ParameterList;
using common::Status;
Status FedJetsStrategy::Aggregate(int round, std::vector<ClientUpdate>& updates,
                                  RoundEvent& round_event) {
  const int m = ctx_.options.num_experts;
  // Each client's whole update (gate and experts) is clipped as one delta;
  // then the gate and each expert are combined on their own.
  UpdateAggregator aggregator(ctx_.options, round);
  FEDJETS_RETURN_IF_ERROR(aggregator.ClipUpdates(updates));
  std::vector<ParameterList> gates;
  std::vector<common::WeightedParameters> gate_in;
  gates.reserve(updates.size());
  for (auto& u : updates) {
    if (u.role != Role::kAnchor && NormalGateLr() == 0) continue;
    gates.push_back(common::TakePrefix(common::kGateWirePrefix, u.params));
    gate_in.push_back({&gates.back(), static_cast<double>(u.num_samples)});
  }
  if (!gate_in.empty()) {  // nobody trained it: unchanged
    auto gate = aggregator.Combine(gate_in);
    if (!gate.ok()) return gate.status().Annotate("gate aggregation");
    FEDJETS_RETURN_IF_ERROR(common::FromWire(*gate_, *gate));
  }
  std::vector<int> load(m, 0);
  // The specialists, then the generalist (every update holds it).
  for (int q = 0; q < static_cast<int>(experts_.size()); ++q) {
    std::vector<ParameterList> parts;
    std::vector<common::WeightedParameters> in;
    parts.reserve(updates.size());
    for (auto& u : updates) {
      if (std::find(u.experts.begin(), u.experts.end(), q) == u.experts.end()) {
        continue;
      }
      parts.push_back(
          common::TakePrefix(common::ExpertWirePrefix(q), u.params));
      in.push_back({&parts.back(), static_cast<double>(u.num_samples)});
    }
    if (q < m) load[q] = static_cast<int>(in.size());
    if (in.empty()) continue;  // nobody trained it: unchanged
    auto avg = aggregator.Combine(in);
    if (!avg.ok()) return avg.status().Annotate(fmt::format("expert {}", q));
    FEDJETS_RETURN_IF_ERROR(common::FromWire(*experts_[q], *avg));
  }
  round_event.expert_load = load;
  return Status::Ok();
}

std::shared_ptr<const ModelSnapshot> FedJetsStrategy::MakeSnapshot(int round) {
  std::vector<ParameterList> parts;
  parts.push_back(
      common::WithPrefix(common::kGateWirePrefix, common::ToWire(*gate_)));
  for (size_t q = 0; q < experts_.size(); ++q) {
    parts.push_back(common::ExpertWire(*experts_[q], static_cast<int>(q)));
  }
  return MakeModelSnapshot(round, std::move(parts));
}

Status FedJetsStrategy::Restore(const ParameterList& params) {
  const ParameterList now = MakeSnapshot(0)->All();
  if (params.size() != now.size()) {
    return common::InvalidArgument(
        fmt::format("the state holds {} tensors, the gate and {} experts "
                    "have {} (was --generalist-expert the same?)",
                    params.size(), experts_.size(), now.size()));
  }
  // Checked whole first, so the loads below cannot fail half-way.
  FEDJETS_RETURN_IF_ERROR(common::CheckParameterList(now, params));
  FEDJETS_RETURN_IF_ERROR(common::FromWire(
      *gate_, common::TakePrefix(common::kGateWirePrefix, params)));
  for (size_t q = 0; q < experts_.size(); ++q) {
    FEDJETS_RETURN_IF_ERROR(common::FromWire(
        *experts_[q],
        common::TakePrefix(common::ExpertWirePrefix(static_cast<int>(q)),
                           params)));
  }
  return Status::Ok();
}

Status FedJetsStrategy::Save(const std::filesystem::path& dir) {
  auto save = [&](auto module, const std::string& name) {
    Status st = common::WriteFileAtomicallyWith(
        dir / name, [&](const std::filesystem::path& temp) {
          torch::save(module, temp.string());
          return Status::Ok();
        });
    return st.Annotate("cannot save the models");
  };
  FEDJETS_RETURN_IF_ERROR(save(ctx_.common_expert, "common_expert.pt"));
  FEDJETS_RETURN_IF_ERROR(save(gate_, "gate.pt"));
  for (int q = 0; q < static_cast<int>(experts_.size()); ++q) {
    FEDJETS_RETURN_IF_ERROR(save(
        experts_[q], q == GeneralistId() ? std::string("generalist.pt")
                                         : fmt::format("expert-{}.pt", q)));
  }
  return Status::Ok();
}

}  // namespace fedjets::coordinator
