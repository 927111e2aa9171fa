#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <optional>

#include "coordinator/common_expert.h"
#include "coordinator/strategy/strategy_context.h"
#include "coordinator/strategy/update_aggregator.h"
#include "coordinator/training_recipes.h"

namespace fedjets::coordinator {

namespace asio = boost::asio;
using common::Clock;
using common::Status;

proto::ModelConfig ModelConfigFor(const common::ModelSpec& spec) {
  proto::ModelConfig m;
  m.set_family(common::ResolveFamily(spec));
  m.set_hidden(spec.hidden);
  for (int64_t d : spec.input_shape) m.add_input_shape(d);
  m.set_num_classes(spec.num_classes);
  return m;
}

common::ParameterList ModelSnapshot::All() const {
  common::ParameterList out;
  for (const auto& part : parts)
    out.insert(out.end(), part.begin(), part.end());
  return out;
}

uint64_t ModelSnapshot::Bytes() const {
  uint64_t n = 0;
  for (const auto& part : parts) n += common::TotalBytes(part);
  return n;
}

std::shared_ptr<const ModelSnapshot> MakeModelSnapshot(
    int round, std::vector<common::ParameterList> parts) {
  auto s = std::make_shared<ModelSnapshot>();
  s->round = round;
  s->parts = std::move(parts);
  s->hash = common::ContentHash(s->All());
  return s;
}

asio::awaitable<Status> SendWithHeader(common::Connection& c,
                                       proto::Envelope header,
                                       const common::ParameterList& params,
                                       Clock::time_point deadline) {
  FEDJETS_CO_RETURN_IF_ERROR(co_await c.Write(header, deadline));
  co_return co_await common::SendParameters(c, header.run_id(), header.round(),
                                            params, deadline);
}

asio::awaitable<common::Result<proto::Envelope>> ReadClientMessage(
    common::Connection& c, const std::string& run_id, int round,
    Clock::time_point deadline) {
  for (;;) {
    auto e = co_await c.Read(deadline, kMaxClientMessageBytes);
    if (!e.ok()) co_return e.status();
    FEDJETS_CO_RETURN_IF_ERROR(common::CheckEnvelope(*e, run_id, round));
    if (!e->has_heartbeat()) co_return e;
  }
}

asio::awaitable<common::Result<std::pair<proto::Update, common::ParameterList>>>
ReceiveUpdate(common::Connection& c, const std::string& run_id, int round,
              const common::TensorSpecList& expected,
              Clock::time_point deadline) {
  auto reply = co_await ReadClientMessage(c, run_id, round, deadline);
  if (!reply.ok()) co_return reply.status();
  if (!reply->has_update()) {
    co_return common::InvalidArgument(
        fmt::format("expected an Update message, got message kind {}",
                    static_cast<int>(reply->body_case())));
  }
  // num_samples and the values are checked by the round driver
  // (ValidateUpdate), which answers a refused update with an Error; names,
  // dtypes, shapes and bytes are checked here, chunk by chunk.
  proto::Update update = reply->update();
  if (update.num_tensors() != static_cast<int64_t>(expected.size())) {
    co_return common::InvalidArgument(fmt::format(
        "update rejected: Update.num_tensors is {}; {} were expected",
        update.num_tensors(), expected.size()));
  }
  auto params =
      co_await common::ReceiveParameters(c, run_id, round, expected, deadline);
  if (!params.ok()) co_return params.status().Annotate("update rejected");
  co_return std::pair{std::move(update), std::move(*params)};
}

asio::awaitable<common::Result<ClientUpdate>> ReceiveClientUpdate(
    common::Connection& c, const std::string& run_id, int round,
    const SessionInfo& s, SentTask task, Clock::time_point deadline) {
  auto reply =
      co_await ReceiveUpdate(c, run_id, round, task.expected, deadline);
  if (!reply.ok()) co_return reply.status();
  ClientUpdate u;
  u.client = s.name;
  u.num_samples = reply->first.num_samples();
  u.train_loss = reply->first.train_loss();
  u.params = std::move(reply->second);
  u.role = task.role;
  u.experts = std::move(task.experts);
  u.start = std::move(task.start);
  co_return u;
}

namespace {

// The training split without the split's validation slice; nothing when
// there is none (the training split is the pool).
std::optional<common::Dataset> TrainingPool(
    const common::Dataset& train, const common::FederationSplit* split) {
  if (!split || split->validation_indices.empty()) return std::nullopt;
  std::vector<bool> held_out(train.size(), false);
  for (int64_t i : split->validation_indices) held_out[i] = true;
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < train.size(); ++i) {
    if (!held_out[i]) keep.push_back(i);
  }
  return common::Subset(train, keep);
}

}  // namespace

common::Result<std::unique_ptr<Strategy>> MakeStrategy(
    const StrategyOptions& o, const common::TrainTest& data,
    const common::FederationSplit* split) {
  if (o.algorithm != "fedavg" && o.algorithm != "fedprox" &&
      o.algorithm != "fedjets") {
    return common::InvalidArgument(fmt::format(
        "--algorithm '{}': use fedavg, fedprox or fedjets", o.algorithm));
  }
  FEDJETS_RETURN_IF_ERROR(CheckAggregationOptions(o));
  StrategyContext ctx;
  ctx.options = o;
  ctx.spec = {o.model_family, data.train.example_shape, data.train.num_classes,
              o.model_hidden};
  ctx.spec.family = common::ResolveFamily(ctx.spec);
  common::Dataset test = data.test;
  if (o.eval_examples > 0 && o.eval_examples < test.size()) {
    std::vector<int64_t> first(o.eval_examples);
    std::iota(first.begin(), first.end(), 0);
    test = common::Subset(test, first);
  }
  ctx.test = common::ToTensors(test);
  if (split) {
    ctx.eval_clients =
        BuildEvalClients(data, *split, o.eval_examples_per_client, o.seed);
    ctx.anchor_classes = split->anchor_classes;
  }
  // The validation slice is held out of everything the coordinator
  // trains, as it is of the clients' shards.
  const std::optional<common::Dataset> pool = TrainingPool(data.train, split);
  const common::Dataset& train = pool ? *pool : data.train;
  auto source = ParseCommonExpert(o.common_expert);
  if (!source.ok()) return source.status();
  if (!source->none()) {
    auto c = source->file.empty()
                 ? PretrainCommonExpert(ctx.spec, train, source->examples,
                                        source->epochs, o.seed,
                                        o.common_expert_cache)
                 : LoadCommonExpert(ctx.spec, source->file);
    if (!c.ok()) return c.status().Annotate("--common-expert");
    ctx.common_expert = *c;
    ctx.common_expert_accuracy =
        common::Evaluate(*ctx.common_expert, ctx.test).accuracy;
    spdlog::info("common expert ({}): test accuracy {:.2f}%", o.common_expert,
                 100 * ctx.common_expert_accuracy);
  }
  if (o.algorithm == "fedjets" && o.baselines && ctx.common_expert &&
      !ctx.anchor_classes.empty()) {
    auto g = TrainReferenceGate(*ctx.common_expert, train, ctx.anchor_classes,
                                o.gate_hidden, kReferenceGateEpochs, o.seed);
    if (!g.ok()) return g.status().Annotate("reference gate");
    ctx.reference_gate = *g;
  }
  auto strategy = o.algorithm == "fedjets" ? MakeFedJetsStrategy(std::move(ctx))
                                           : MakeFedAvgStrategy(std::move(ctx));
  if (strategy.ok()) (*strategy)->Publish((*strategy)->MakeSnapshot(0));
  return strategy;
}

}  // namespace fedjets::coordinator
