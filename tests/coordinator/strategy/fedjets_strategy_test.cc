// The FedJETs strategy without a network (issue #14): the generalist
// expert's place in the models and its aggregation, the routing loss's
// round task, and the serving options in the Welcome.
#include "coordinator/strategy/fedjets_strategy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tests/coordinator/blobs.h"
#include "tests/coordinator/strategy/filled_parameters.h"

namespace fedjets::coordinator {
namespace {

constexpr int kExperts = 3;

// FedJETs on the four blob classes, with a small common expert.
StrategyOptions FedJetsOptions() {
  StrategyOptions o;
  o.algorithm = "fedjets";
  o.common_expert = "examples:40:epochs:1";
  o.model_hidden = 16;
  o.gate_hidden = 8;
  o.num_experts = kExperts;
  o.top_k = 2;
  return o;
}

// Anchors of experts 0, 1, 2 holding classes {2, 3}, {0} and {1}.
common::FederationSplit AnchoredSplit() {
  common::FederationSplit split;
  split.anchor_classes = {{2, 3}, {0}, {1}};
  return split;
}

common::Result<std::unique_ptr<Strategy>> Make(
    const StrategyOptions& o, const common::FederationSplit& s) {
  static const common::TrainTest data = {Blobs(20, 1), Blobs(10, 2)};
  return MakeStrategy(o, data, &s);
}

// The first float of the first tensor of `params` under `prefix`.
float FirstValue(const common::ParameterList& params,
                 const std::string& prefix) {
  float v = 0;
  auto part = common::TakePrefix(prefix, params);
  if (!part.empty()) std::memcpy(&v, part[0].bytes.data(), sizeof v);
  return v;
}

TEST(FedJetsStrategyTest, GeneralistIsTheSampleWeightedMeanOfEveryUpdate) {
  StrategyOptions o = FedJetsOptions();
  o.generalist_expert = true;
  o.normal_gate_lr = -1;  // normal clients' gates are averaged in too
  auto s = Make(o, AnchoredSplit());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto start = (*s)->MakeSnapshot(0);
  // The gate, the 3 specialists, the generalist; the gate has 4 outputs.
  ASSERT_EQ(start->parts.size(), 1u + kExperts + 1);
  for (const auto& t : start->parts[0]) {
    if (t.name == "gate.fc2.weight") {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{kExperts + 1, 8}));
    }
  }
  EXPECT_FALSE(
      common::TakePrefix(common::ExpertWirePrefix(kExperts), start->All())
          .empty());

  // An anchor of expert 0 and two normal clients; each sent back its
  // gate and experts as received, every value set to its value.
  struct Sent {
    Role role;
    std::vector<int> experts;
    int64_t samples;
    float value;
  };
  const std::vector<Sent> sent = {{Role::kAnchor, {0, kExperts}, 1, 1.0f},
                                  {Role::kNormal, {1, 2, kExperts}, 2, 2.0f},
                                  {Role::kNormal, {2, kExperts}, 5, 5.0f}};
  std::vector<ClientUpdate> updates;
  for (const auto& x : sent) {
    ClientUpdate u;
    u.role = x.role;
    u.experts = x.experts;
    u.num_samples = x.samples;
    common::ParameterList params = start->parts[0];
    for (int q : x.experts) {
      params.insert(params.end(), start->parts[1 + q].begin(),
                    start->parts[1 + q].end());
    }
    u.params = Filled(params, x.value);
    updates.push_back(std::move(u));
  }
  RoundEvent event;
  common::Status st = (*s)->Aggregate(1, updates, event);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const auto after = (*s)->MakeSnapshot(1)->All();
  EXPECT_FLOAT_EQ(FirstValue(after, common::ExpertWirePrefix(kExperts)),
                  (1 * 1.0f + 2 * 2.0f + 5 * 5.0f) / 8)
      << "the generalist";
  EXPECT_FLOAT_EQ(FirstValue(after, common::ExpertWirePrefix(0)), 1.0f);
  EXPECT_FLOAT_EQ(FirstValue(after, common::ExpertWirePrefix(2)),
                  (2 * 2.0f + 5 * 5.0f) / 7);
  EXPECT_FLOAT_EQ(FirstValue(after, common::kGateWirePrefix), 30.0f / 8);
  // The load counts the specialists only.
  EXPECT_EQ(event.expert_load, (std::vector<int>{1, 1, 2}));
}

TEST(FedJetsStrategyTest, WithoutTheFlagTheModelsAreTheGateAndTheSpecialists) {
  auto s = Make(FedJetsOptions(), AnchoredSplit());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto start = (*s)->MakeSnapshot(0);
  ASSERT_EQ(start->parts.size(), 1u + kExperts);
  for (const auto& t : start->parts[0]) {
    if (t.name == "gate.fc2.weight") {
      EXPECT_EQ(t.shape[0], kExperts);
    }
  }
}

TEST(FedJetsStrategyTest, NormalTasksShipTheAnchorsClassExpertMap) {
  StrategyOptions o = FedJetsOptions();
  o.normal_gate_lr = -1;  // normal clients train the gate
  o.routing_loss = 0.5;
  auto s = Make(o, AnchoredSplit());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto* fedjets = dynamic_cast<FedJetsStrategy*>(s->get());
  ASSERT_NE(fedjets, nullptr);
  proto::RoundTask normal = fedjets->TaskFor(1, Role::kNormal, -1);
  EXPECT_EQ(normal.role(), proto::RoundTask::ROLE_NORMAL);
  EXPECT_DOUBLE_EQ(normal.routing_loss(), 0.5);
  EXPECT_FALSE(normal.routing_only_gate());
  // Class 0 is anchor 1's, class 1 anchor 2's, classes 2 and 3 anchor 0's.
  EXPECT_EQ(std::vector<int>(normal.class_experts().begin(),
                             normal.class_experts().end()),
            (std::vector<int>{1, 2, 0, 0}));
  proto::RoundTask anchor = fedjets->TaskFor(1, Role::kAnchor, 2);
  EXPECT_EQ(anchor.anchor_expert(), 2);
  EXPECT_EQ(anchor.routing_loss(), 0);
  EXPECT_EQ(anchor.class_experts_size(), 0);

  auto off = Make(FedJetsOptions(), AnchoredSplit());
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  proto::RoundTask plain =
      dynamic_cast<FedJetsStrategy*>(off->get())->TaskFor(1, Role::kNormal, -1);
  EXPECT_EQ(plain.routing_loss(), 0);
  EXPECT_EQ(plain.class_experts_size(), 0);
}

TEST(FedJetsStrategyTest, ARoutingOnlyGateIsAskedOfNormalClientsOnly) {
  StrategyOptions o = FedJetsOptions();
  o.normal_gate_lr = -1;  // normal clients train the gate
  o.routing_loss = 0.5;
  o.routing_only_gate = true;
  auto s = Make(o, AnchoredSplit());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto* fedjets = dynamic_cast<FedJetsStrategy*>(s->get());
  ASSERT_NE(fedjets, nullptr);
  EXPECT_TRUE(fedjets->TaskFor(1, Role::kNormal, -1).routing_only_gate());
  EXPECT_FALSE(fedjets->TaskFor(1, Role::kAnchor, 2).routing_only_gate());

  o.routing_loss = 0;
  auto without_loss = Make(o, AnchoredSplit());
  ASSERT_FALSE(without_loss.ok());
  EXPECT_NE(without_loss.status().message().find("--routing-only-gate"),
            std::string::npos)
      << without_loss.status().ToString();
}

// The default --normal-gate-lr 0 leaves the gate to the anchors: a routing
// loss would train nothing, and without anchors nobody trains the gate.
TEST(FedJetsStrategyTest, RoutingLossAndNoAnchorsNeedNormalClientsGateSteps) {
  StrategyOptions o = FedJetsOptions();
  ASSERT_EQ(o.normal_gate_lr, 0);
  o.routing_loss = 0.5;
  auto routing = Make(o, AnchoredSplit());
  ASSERT_FALSE(routing.ok());
  EXPECT_NE(routing.status().message().find("--normal-gate-lr 0"),
            std::string::npos)
      << routing.status().ToString();
  o.routing_loss = 0;
  o.use_anchors = false;
  auto no_anchors = Make(o, AnchoredSplit());
  ASSERT_FALSE(no_anchors.ok());
  EXPECT_NE(no_anchors.status().message().find("--no-anchors"),
            std::string::npos)
      << no_anchors.status().ToString();
  o.normal_gate_lr = -1;
  EXPECT_TRUE(Make(o, AnchoredSplit()).ok());
  o.use_anchors = true;
  o.routing_loss = 0.5;
  EXPECT_TRUE(Make(o, AnchoredSplit()).ok());
}

TEST(FedJetsStrategyTest, RoutingLossNeedsAnchorsAndAFiniteNonNegativeWeight) {
  StrategyOptions o = FedJetsOptions();
  o.normal_gate_lr = -1;  // normal clients train the gate
  o.routing_loss = 1.0;
  auto no_anchors = Make(o, common::FederationSplit{});
  ASSERT_FALSE(no_anchors.ok());
  EXPECT_NE(no_anchors.status().message().find("--routing-loss"),
            std::string::npos)
      << no_anchors.status().ToString();
  common::FederationSplit bad_class = AnchoredSplit();
  bad_class.anchor_classes[0].push_back(7);  // the blobs have 4 classes
  EXPECT_FALSE(Make(o, bad_class).ok());
  for (double bad : {-1.0, std::nan("")}) {
    o.routing_loss = bad;
    auto s = Make(o, AnchoredSplit());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find("--routing-loss"), std::string::npos);
  }
}

TEST(FedJetsStrategyTest, TheWelcomeSaysHowZeroShotClientsAreServed) {
  // The defaults: mixture, EM prior covering 0.97, at most 5 experts (here
  // the 3 there are).
  StrategyOptions o = FedJetsOptions();
  o.serve_label_shift = true;
  auto s = Make(o, AnchoredSplit());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  proto::Welcome w;
  (*s)->FillWelcome(SessionInfo{}, w);
  EXPECT_TRUE(w.moe().serve_mixture());
  EXPECT_DOUBLE_EQ(w.moe().serve_mass(), 0.97);
  EXPECT_EQ(w.moe().serve_max_k(), kExperts);
  EXPECT_TRUE(w.moe().serve_label_shift());

  // The paper's serving: each sample's best of the top-K.
  StrategyOptions paper = FedJetsOptions();
  paper.serve_mixture = false;
  paper.serve_mass = 0;
  paper.serve_max_k = 0;
  auto plain = Make(paper, AnchoredSplit());
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  proto::Welcome d;
  (*plain)->FillWelcome(SessionInfo{}, d);
  EXPECT_FALSE(d.moe().serve_mixture());
  EXPECT_EQ(d.moe().serve_mass(), 0);
  EXPECT_EQ(d.moe().serve_max_k(), 0);
  EXPECT_FALSE(d.moe().serve_label_shift());
}

TEST(FedJetsStrategyTest, TheWelcomeCarriesTheGeneralistWeightWhenSet) {
  StrategyOptions o = FedJetsOptions();
  o.generalist_expert = true;
  auto plain = Make(o, AnchoredSplit());
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  proto::Welcome d;
  (*plain)->FillWelcome(SessionInfo{}, d);
  EXPECT_FALSE(d.moe().has_generalist_weight());
  for (double w : {0.0, 0.4}) {
    o.generalist_weight = w;
    auto s = Make(o, AnchoredSplit());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    proto::Welcome welcome;
    (*s)->FillWelcome(SessionInfo{}, welcome);
    ASSERT_TRUE(welcome.moe().has_generalist_weight()) << w;
    EXPECT_EQ(welcome.moe().generalist_weight(), w);
  }
}

TEST(FedJetsStrategyTest, GeneralistWeightIsInZeroToOneWithAGeneralist) {
  for (double bad : {-0.5, 1.0, std::nan(""), HUGE_VAL}) {
    StrategyOptions o = FedJetsOptions();
    o.generalist_expert = true;
    o.generalist_weight = bad;
    auto s = Make(o, AnchoredSplit());
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("--generalist-weight"),
              std::string::npos)
        << s.status().ToString();
  }
  StrategyOptions o = FedJetsOptions();
  o.generalist_weight = 0.3;
  auto s = Make(o, AnchoredSplit());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("needs --generalist-expert"),
            std::string::npos)
      << s.status().ToString();
}

TEST(FedJetsStrategyTest, ServeMassIsAShareAndServeMaxKCapsAtTheExperts) {
  for (double bad : {-0.5, 1.5, std::nan("")}) {
    StrategyOptions o = FedJetsOptions();
    o.serve_mass = bad;
    auto s = Make(o, AnchoredSplit());
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("--serve-mass"), std::string::npos);
  }
  StrategyOptions o = FedJetsOptions();
  o.serve_max_k = -1;
  auto negative = Make(o, AnchoredSplit());
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("--serve-max-k"),
            std::string::npos);
  // A cap beyond the experts there are is all of them (the default 3 on a
  // run of 2 experts), and clients are told so.
  o.serve_max_k = kExperts + 1;
  auto beyond = Make(o, AnchoredSplit());
  ASSERT_TRUE(beyond.ok()) << beyond.status().ToString();
  proto::Welcome w;
  (*beyond)->FillWelcome(SessionInfo{}, w);
  EXPECT_EQ(w.moe().serve_max_k(), kExperts);
}

}  // namespace
}  // namespace fedjets::coordinator
