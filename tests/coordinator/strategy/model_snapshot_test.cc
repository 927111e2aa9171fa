// The global models' snapshot (coordinator/strategy/strategy.h) as the
// network reads it: what is published stays as it was while a round
// aggregates, and a client served or sent a round task gets the published
// models, never the live ones the worker is changing. Each strategy talks
// to a hand-written peer over a real loopback socket (plain TCP).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "coordinator/strategy/strategy.h"
#include "tests/coordinator/blobs.h"

namespace fedjets::coordinator {
namespace {

using namespace std::chrono_literals;
using common::Clock;
using common::Connection;
using common::ParameterList;

constexpr char kRunId[] = "snapshot-run";
constexpr int kExperts = 3;

StrategyOptions Options(const std::string& algorithm) {
  StrategyOptions o;
  o.algorithm = algorithm;
  o.model_hidden = 16;
  o.gate_hidden = 8;
  o.num_experts = kExperts;
  o.top_k = 2;
  if (algorithm == "fedjets") o.common_expert = "examples:40:epochs:1";
  return o;
}

std::unique_ptr<Strategy> Make(const std::string& algorithm) {
  const common::TrainTest data{Blobs(20, 1), Blobs(10, 2)};
  auto s = MakeStrategy(Options(algorithm), data, nullptr);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

// `list` with 1 added to every float32 value: an update that moves every
// parameter it holds.
ParameterList Shifted(ParameterList list) {
  for (auto& t : list) {
    if (t.dtype != proto::DTYPE_FLOAT32) continue;
    for (size_t i = 0; i + sizeof(float) <= t.bytes.size();
         i += sizeof(float)) {
      float v;
      std::memcpy(&v, t.bytes.data() + i, sizeof v);
      v += 1;
      std::memcpy(t.bytes.data() + i, &v, sizeof v);
    }
  }
  return list;
}

// One client's update of what `s` published: FedAvg's whole model; for
// FedJETs an anchor of expert 1 (the gate and that expert).
std::vector<ClientUpdate> UpdateOf(const ModelSnapshot& s, bool fedjets) {
  ClientUpdate u;
  u.client = "client-0";
  u.num_samples = 10;
  if (fedjets) {
    u.role = Role::kAnchor;
    u.experts = {1};
    u.params = s.parts[0];
    u.params.insert(u.params.end(), s.parts[2].begin(), s.parts[2].end());
  } else {
    u.params = s.parts[0];
  }
  u.params = Shifted(std::move(u.params));
  return {u};
}

// Whether `got`'s tensors are those of the same name in `s`.
::testing::AssertionResult FromSnapshot(const ParameterList& got,
                                        const ModelSnapshot& s) {
  const ParameterList all = s.All();
  for (const auto& t : got) {
    auto it = std::find_if(all.begin(), all.end(),
                           [&](const auto& a) { return a.name == t.name; });
    if (it == all.end()) {
      return ::testing::AssertionFailure() << t.name << " is not a model's";
    }
    if (it->bytes != t.bytes) {
      return ::testing::AssertionFailure()
             << t.name << " differs from snapshot of round " << s.round;
    }
  }
  if (got.empty()) return ::testing::AssertionFailure() << "nothing sent";
  return ::testing::AssertionSuccess();
}

class ModelSnapshotTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
  }

  // What a peer receives from the strategy's side of one exchange:
  // FedJETs serves a just-in-time client (the gate, then experts 0 and 1
  // on request); FedAvg sends a round task, whose model the peer takes
  // before hanging up.
  ParameterList Receive(Strategy& strategy) {
    const bool fedjets = GetParam() == "fedjets";
    ParameterList got;
    asio::co_spawn(
        io_,
        [&]() -> awaitable<void> {
          tcp::socket s = co_await acceptor_.async_accept(asio::use_awaitable);
          Connection c(std::move(s), {});
          const auto deadline = Clock::now() + 10s;
          // Named, not temporaries: GCC 12 mishandles temporaries bound
          // to a coroutine's reference parameters inside a co_await.
          const std::string run_id = kRunId;
          const SessionInfo info;
          if (fedjets) {
            (void)co_await strategy.Serve(c, run_id, deadline);
          } else {
            (void)co_await strategy.SendTask(c, run_id, 1, info, Role::kModel,
                                             deadline);
          }
        },
        asio::detached);
    asio::co_spawn(
        io_,
        [&]() -> awaitable<void> {
          tcp::socket s(io_);
          co_await s.async_connect(acceptor_.local_endpoint(),
                                   asio::use_awaitable);
          Connection c(std::move(s), {});
          const auto deadline = Clock::now() + 10s;
          const int round = fedjets ? 0 : 1;
          auto task = co_await c.Read(deadline);
          if (!task.ok() || !task->has_round_task()) co_return;
          auto first = co_await common::ReceiveParameters(
              c, kRunId, round, task->round_task().num_tensors(), deadline);
          if (!first.ok()) co_return;
          got = *first;
          if (!fedjets) co_return;  // the task is all SendTask sends
          proto::Envelope request = common::MakeEnvelope(kRunId, 0);
          request.mutable_expert_request()->add_experts(0);
          request.mutable_expert_request()->add_experts(1);
          if (!(co_await c.Write(request, deadline)).ok()) co_return;
          auto grant = co_await c.Read(deadline);
          if (!grant.ok() || !grant->has_expert_grant()) co_return;
          auto experts = co_await common::ReceiveParameters(
              c, kRunId, 0, grant->expert_grant().num_tensors(), deadline);
          if (!experts.ok()) co_return;
          got.insert(got.end(), experts->begin(), experts->end());
          proto::Envelope bye = common::MakeEnvelope(kRunId, 0);
          bye.mutable_goodbye()->set_reason("served");
          (void)co_await c.Write(bye, deadline);
        },
        asio::detached);
    io_.restart();
    io_.run_for(20s);
    return got;
  }

  // One round task (FedAvg: the model; FedJETs: an anchor of expert 1, so
  // no grant follows): what SendTask returned and what the peer received.
  std::pair<common::Result<SentTask>, ParameterList> SendTaskTo(
      Strategy& strategy) {
    const bool fedjets = GetParam() == "fedjets";
    common::Result<SentTask> sent = common::Internal("SendTask never ended");
    ParameterList got;
    asio::co_spawn(
        io_,
        [&]() -> awaitable<void> {
          tcp::socket s = co_await acceptor_.async_accept(asio::use_awaitable);
          Connection c(std::move(s), {});
          const auto deadline = Clock::now() + 10s;
          const std::string run_id = kRunId;
          SessionInfo info;
          info.anchor_expert = 1;
          sent = co_await strategy.SendTask(
              c, run_id, 1, info, fedjets ? Role::kAnchor : Role::kModel,
              deadline);
        },
        asio::detached);
    asio::co_spawn(
        io_,
        [&]() -> awaitable<void> {
          tcp::socket s(io_);
          co_await s.async_connect(acceptor_.local_endpoint(),
                                   asio::use_awaitable);
          Connection c(std::move(s), {});
          const auto deadline = Clock::now() + 10s;
          auto task = co_await c.Read(deadline);
          if (!task.ok() || !task->has_round_task()) co_return;
          auto params = co_await common::ReceiveParameters(
              c, kRunId, 1, task->round_task().num_tensors(), deadline);
          if (params.ok()) got = *params;
        },
        asio::detached);
    io_.restart();
    io_.run_for(20s);
    return {std::move(sent), std::move(got)};
  }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
};

TEST_P(ModelSnapshotTest, AggregationChangesNothingPublishedUntilPublish) {
  auto strategy = Make(GetParam());
  ASSERT_NE(strategy, nullptr);
  const std::shared_ptr<const ModelSnapshot> before = strategy->published();
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->round, 0);
  const ParameterList was = before->All();
  EXPECT_EQ(before->hash, common::ContentHash(was));
  EXPECT_EQ(before->parts.size(), GetParam() == "fedjets" ? 1u + kExperts : 1u);

  auto updates = UpdateOf(*before, GetParam() == "fedjets");
  RoundEvent event;
  ASSERT_TRUE(strategy->Aggregate(1, updates, event).ok());
  EXPECT_EQ(strategy->published(), before);
  const ParameterList still = before->All();
  ASSERT_EQ(still.size(), was.size());
  for (size_t i = 0; i < was.size(); ++i) {
    EXPECT_EQ(still[i].bytes, was[i].bytes) << was[i].name;
  }

  auto after = strategy->MakeSnapshot(1);
  EXPECT_EQ(after->round, 1);
  EXPECT_NE(after->hash, before->hash) << "the update moved nothing";
  strategy->Publish(after);
  EXPECT_EQ(strategy->published()->hash, after->hash);
}

// Without snapshots the exchange would read the live models, which the
// aggregation just changed: the peer would get round 1's models before
// they are published (and, racing the worker, half of them).
TEST_P(ModelSnapshotTest, PeersGetThePublishedModelsNotTheLiveOnes) {
  auto strategy = Make(GetParam());
  ASSERT_NE(strategy, nullptr);
  const std::shared_ptr<const ModelSnapshot> before = strategy->published();
  auto updates = UpdateOf(*before, GetParam() == "fedjets");
  RoundEvent event;
  ASSERT_TRUE(strategy->Aggregate(1, updates, event).ok());
  const std::shared_ptr<const ModelSnapshot> live = strategy->MakeSnapshot(1);

  const ParameterList during = Receive(*strategy);
  EXPECT_TRUE(FromSnapshot(during, *before));
  EXPECT_FALSE(FromSnapshot(during, *live));

  strategy->Publish(live);
  const ParameterList after = Receive(*strategy);
  EXPECT_TRUE(FromSnapshot(after, *live));
  EXPECT_FALSE(FromSnapshot(after, *before));
}

// A late client's update is read after its round closed, maybe after the
// next models were published: what it is checked against (the expected
// tensors, the start of its delta) is the snapshot its task was sent from,
// which the SentTask holds.
TEST_P(ModelSnapshotTest, SentTaskHoldsTheSnapshotItWasSentFrom) {
  auto strategy = Make(GetParam());
  ASSERT_NE(strategy, nullptr);
  const std::shared_ptr<const ModelSnapshot> before = strategy->published();
  auto [sent, got] = SendTaskTo(*strategy);
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  EXPECT_TRUE(FromSnapshot(got, *before));
  auto updates = UpdateOf(*before, GetParam() == "fedjets");
  RoundEvent event;
  ASSERT_TRUE(strategy->Aggregate(1, updates, event).ok());
  strategy->Publish(strategy->MakeSnapshot(1));
  ASSERT_NE(strategy->published(), before);

  EXPECT_EQ(sent->snapshot, before);
  ASSERT_EQ(sent->expected.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(sent->expected[i].name, got[i].name);
  }
  if (!sent->start.empty()) {
    EXPECT_TRUE(FromSnapshot(sent->start, *before));
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, ModelSnapshotTest,
                         ::testing::Values("fedavg", "fedjets"));

}  // namespace
}  // namespace fedjets::coordinator
