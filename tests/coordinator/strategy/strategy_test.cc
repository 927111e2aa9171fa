// Building the strategies (MakeStrategy) and what they report without a
// network: a model that cannot be built, the round seed, the baselines.
#include "coordinator/strategy/strategy.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "coordinator/strategy/strategy_context.h"
#include "tests/coordinator/blobs.h"
#include "tests/coordinator/strategy/filled_parameters.h"

namespace fedjets::coordinator {
namespace {

common::TrainTest BlobData() { return {Blobs(20, 1), Blobs(10, 2)}; }

// One seen evaluation client holding every class.
common::FederationSplit OneEvalClient() {
  common::FederationSplit split;
  split.eval_clients.push_back(
      {"seen-0", common::EvalClientKind::kSeen, {0.25, 0.25, 0.25, 0.25}});
  return split;
}

TEST(RoundSeedTest, FollowsTheRunSeedAndTheRound) {
  EXPECT_EQ(RoundSeed(1, 1), 1000004u);
  EXPECT_EQ(RoundSeed(42, 3), 42u * 1000003u + 3u);
  EXPECT_NE(RoundSeed(2, 1), RoundSeed(1, 2));
}

TEST(MakeStrategyTest, AModelThatCannotBeBuiltIsAnErrorNotAnException) {
  StrategyOptions o;
  o.model_family = "cnn";  // the blobs are flat: no image to convolve
  const common::TrainTest data = BlobData();
  common::Result<std::unique_ptr<Strategy>> s =
      common::InvalidArgument("not built");
  ASSERT_NO_THROW(s = MakeStrategy(o, data, nullptr));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("cnn"), std::string::npos)
      << s.status().ToString();
}

TEST(MakeStrategyTest, FedAvgBaselinesReportAFailedFineTuning) {
  StrategyOptions o;
  o.model_hidden = 16;
  o.baselines = true;
  o.eval_examples_per_client = 20;
  const common::TrainTest data = BlobData();
  const common::FederationSplit split = OneEvalClient();

  auto ok = MakeStrategy(o, data, &split);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  std::vector<Event> events = (*ok)->FinalEvents();
  ASSERT_EQ(events.size(), 1u);
  const auto* b = std::get_if<BaselinesEvent>(&events[0]);
  ASSERT_NE(b, nullptr) << EventLine(events[0]);
  EXPECT_TRUE(b->local && b->local->seen) << EventLine(events[0]);
  EXPECT_TRUE(b->oracle && b->oracle->seen) << EventLine(events[0]);

  o.finetune_epochs = 0;
  auto failing = MakeStrategy(o, data, &split);
  ASSERT_TRUE(failing.ok()) << failing.status().ToString();
  events = (*failing)->FinalEvents();
  ASSERT_EQ(events.size(), 1u);
  b = std::get_if<BaselinesEvent>(&events[0]);
  ASSERT_NE(b, nullptr) << EventLine(events[0]);
  for (const auto& m : {b->local, b->oracle}) {
    ASSERT_TRUE(m) << EventLine(events[0]);
    EXPECT_FALSE(m->seen) << EventLine(events[0]);
    ASSERT_TRUE(m->error) << EventLine(events[0]);
    EXPECT_NE(m->error->find("'seen-0'"), std::string::npos) << *m->error;
  }
}

TEST(MakeStrategyTest, StreamingFedAvgFoldsEachUpdateAsItArrives) {
  StrategyOptions o;
  o.model_hidden = 16;
  o.streaming_aggregation = true;
  auto s = MakeStrategy(o, BlobData(), nullptr);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->FoldsUpdates());
  const common::ParameterList start = (*s)->MakeSnapshot(0)->All();
  std::vector<ClientUpdate> updates(2);
  updates[0].num_samples = 1;
  updates[0].params = Filled(start, 1.0f);
  updates[1].num_samples = 3;
  updates[1].params = Filled(start, 3.0f);
  for (auto& u : updates) {
    ASSERT_TRUE((*s)->Fold(1, u).ok());
    EXPECT_TRUE(u.params.empty()) << "a folded update is not held";
  }
  RoundEvent event;
  common::Status st = (*s)->Aggregate(1, updates, event);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const common::ParameterList after = (*s)->MakeSnapshot(1)->All();
  EXPECT_EQ(common::ContentHash(after),
            common::ContentHash(Filled(start, 2.5f)));
}

// A round attempt below quorum is retried with a fresh sample: what it
// folded must not reach the retry's aggregate.
TEST(MakeStrategyTest, StreamingFedAvgDiscardsAFailedAttemptsFolds) {
  StrategyOptions o;
  o.model_hidden = 16;
  o.streaming_aggregation = true;
  auto s = MakeStrategy(o, BlobData(), nullptr);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const common::ParameterList start = (*s)->MakeSnapshot(0)->All();
  ClientUpdate failed;
  failed.num_samples = 5;
  failed.params = Filled(start, 100.0f);
  ASSERT_TRUE((*s)->Fold(1, failed).ok());
  (*s)->DiscardFolded();
  std::vector<ClientUpdate> updates(2);
  updates[0].num_samples = 1;
  updates[0].params = Filled(start, 1.0f);
  updates[1].num_samples = 3;
  updates[1].params = Filled(start, 3.0f);
  for (auto& u : updates) ASSERT_TRUE((*s)->Fold(1, u).ok());
  RoundEvent event;
  common::Status st = (*s)->Aggregate(1, updates, event);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(common::ContentHash((*s)->MakeSnapshot(1)->All()),
            common::ContentHash(Filled(start, 2.5f)));
}

}  // namespace
}  // namespace fedjets::coordinator
