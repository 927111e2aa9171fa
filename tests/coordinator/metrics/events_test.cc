#include "coordinator/metrics/events.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace fedjets::coordinator {
namespace {

// Writes `event` as a line and parses it back.
template <typename T>
T RoundTrip(const T& event) {
  auto parsed = ParseEvent(EventLine(event));
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  if (!parsed.ok()) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*parsed)) << EventLine(event);
  if (!std::holds_alternative<T>(*parsed)) return T{};
  return std::get<T>(*parsed);
}

// Parses `line`, expecting an error whose message holds every `part`.
void ExpectRejected(const std::string& line,
                    std::initializer_list<std::string> parts) {
  auto parsed = ParseEvent(line);
  ASSERT_FALSE(parsed.ok()) << line;
  for (const std::string& part : parts) {
    EXPECT_NE(parsed.status().message().find(part), std::string::npos)
        << "\"" << part << "\" not in: " << parsed.status().ToString();
  }
}

TEST(EventsTest, StartEventSurvivesALine) {
  StartEvent fedavg;
  fedavg.run_id = "run-1";
  fedavg.algorithm = "fedavg";
  fedavg.seed = 7;
  fedavg.test_accuracy = 0.125;
  EXPECT_EQ(RoundTrip(fedavg), fedavg);
  StartEvent fedjets = fedavg;
  fedjets.algorithm = "fedjets";
  fedjets.common_expert_accuracy = 0.5;
  fedjets.num_experts = 5;
  fedjets.top_k = 2;
  EXPECT_EQ(RoundTrip(fedjets), fedjets);
}

TEST(EventsTest, UpdateEventSurvivesALineWithAndWithoutExperts) {
  UpdateEvent model;
  model.round = 3;
  model.client = "client-1";
  model.samples = 1200;
  model.train_loss = 0.25;
  model.bytes_sent = 1ull << 40;
  model.bytes_received = 9;
  EXPECT_EQ(RoundTrip(model), model);
  UpdateEvent anchor = model;
  anchor.role = "anchor";
  anchor.experts = {0, 3};
  EXPECT_EQ(RoundTrip(anchor), anchor);
}

TEST(EventsTest, RoundEventSurvivesALine) {
  RoundEvent r;
  r.round = 2;
  r.clients_sampled = 4;
  r.clients_reported = 3;
  r.train_loss = 1.0 / 3;
  r.bytes_sent = 10;
  r.bytes_received = 20;
  r.seconds = 0.75;
  EXPECT_EQ(RoundTrip(r), r);
  r.test_accuracy = 0.9;
  r.expert_load = std::vector<int>{1, 0, 2};
  EXPECT_EQ(RoundTrip(r), r);
}

TEST(EventsTest, RoundEventCarriesAttemptsDropsAndLateClientsOnlyWhenAny) {
  RoundEvent r;
  r.round = 4;
  const std::string plain = EventLine(r);
  for (const char* key : {"attempts", "clients_dropped", "clients_late"}) {
    EXPECT_EQ(plain.find(key), std::string::npos) << plain;
  }
  r.attempts = 2;
  r.clients_dropped = 1;
  r.clients_late = 3;
  EXPECT_EQ(RoundTrip(r), r);
}

TEST(EventsTest, RoundFailedEventSurvivesALine) {
  RoundFailedEvent f;
  f.round = 3;
  f.attempt = 2;
  f.clients_sampled = 4;
  f.clients_reported = 1;
  f.quorum = 3;
  f.reason = "1 of 4 sampled clients reported; quorum is 3";
  f.seconds = 2.5;
  EXPECT_EQ(RoundTrip(f), f);
  f.updates_rejected = std::map<std::string, int>{{"stale", 1}};
  f.clients_dropped = 2;
  f.clients_late = 1;
  EXPECT_EQ(RoundTrip(f), f);
  ExpectRejected(R"({"event":"round_failed","round":1,"attempt":1})",
                 {"round_failed", "clients_sampled"});
}

TEST(EventsTest, RoundEventCarriesTheResidentSetSizeWhenKnown) {
  RoundEvent r;
  r.round = 100;
  EXPECT_EQ(EventLine(r).find("rss_bytes"), std::string::npos);
  r.rss_bytes = uint64_t{5} << 32;  // past 32 bits
  const std::string line = EventLine(r);
  EXPECT_NE(line.find(R"("rss_bytes":21474836480)"), std::string::npos) << line;
  EXPECT_EQ(RoundTrip(r), r);
}

TEST(EventsTest, RejectedUpdatesAreCountedByReasonAndAbsentWhenNone) {
  RoundEvent r;
  r.round = 1;
  EXPECT_EQ(EventLine(r).find("updates_rejected"), std::string::npos);
  r.updates_rejected =
      std::map<std::string, int>{{"non_finite", 2}, {"num_samples", 1}};
  const std::string line = EventLine(r);
  EXPECT_NE(line.find(R"("updates_rejected":{"non_finite":2,"num_samples":1})"),
            std::string::npos)
      << line;
  EXPECT_EQ(RoundTrip(r), r);
  ExpectRejected(R"({"event":"round","round":1,"clients_sampled":1,)"
                 R"("clients_reported":1,"train_loss":1,"bytes_sent":1,)"
                 R"("bytes_received":1,"seconds":1,)"
                 R"("updates_rejected":{"non_finite":"x"}})",
                 {"field \"updates_rejected.non_finite\" is a string"});
}

TEST(EventsTest, EachRejectedUpdateIsALineNamingClientRoundAndReason) {
  UpdateRejectedEvent r;
  r.round = 4;
  r.client = "client-7";
  r.reason = "l2_norm";
  r.message = "update rejected: its L2 norm 12.5 exceeds 10";
  EXPECT_EQ(EventLine(r),
            R"({"client":"client-7","event":"update_rejected",)"
            R"("message":"update rejected: its L2 norm 12.5 exceeds 10",)"
            R"("reason":"l2_norm","round":4})");
  EXPECT_EQ(RoundTrip(r), r);
  ExpectRejected(R"({"event":"update_rejected","round":1,"client":"c"})",
                 {"update_rejected", "reason"});
}

TEST(EventsTest, EvalEventSurvivesALine) {
  EvalEvent e;
  e.round = 5;
  e.algorithm = "fedjets";
  e.test_accuracy = 0.8;
  EXPECT_EQ(RoundTrip(e), e);
  e.accuracy.seen = 0.7;
  e.accuracy.unseen = 0.6;
  e.clients.resize(2);
  e.clients[0].name = "eval-0";
  e.clients[0].labels = {0, 1};
  e.clients[0].accuracy = 0.7;
  e.clients[1].name = "eval-1";
  e.clients[1].kind = common::EvalClientKind::kUnseen;
  e.clients[1].labels = {2};
  e.clients[1].accuracy = 0.6;
  e.clients[1].experts = std::vector<int>{4, 1};
  e.routing_accuracy = 0.5;
  e.gate_entropy = 1.25;
  e.anchor_routed_accuracy = 0.95;
  EXPECT_EQ(RoundTrip(e), e);
  e.generalist_share = 0.25;
  EXPECT_EQ(RoundTrip(e), e);
  e.accuracy.validation = 0.65;
  e.clients.push_back(e.clients[1]);
  e.clients[2].name = "validation-0";
  e.clients[2].kind = common::EvalClientKind::kValidation;
  EXPECT_EQ(RoundTrip(e), e);
  const std::string line = EventLine(e);
  EXPECT_NE(line.find(R"("validation_accuracy":0.65)"), std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("kind":"validation")"), std::string::npos) << line;
}

TEST(EventsTest, RoundEventCarriesTheValidationAccuracy) {
  RoundEvent r;
  r.round = 2;
  EXPECT_EQ(EventLine(r).find("validation_accuracy"), std::string::npos);
  r.validation_accuracy = 0.5;
  EXPECT_EQ(RoundTrip(r), r);
  EXPECT_NE(EventLine(r).find(R"("validation_accuracy":0.5)"),
            std::string::npos);
}

TEST(EventsTest, FinalEventsSurviveALine) {
  BaselinesEvent b;
  EXPECT_EQ(RoundTrip(b), b);
  b.common.emplace().seen = 0.5;
  b.local.emplace().unseen = 0.4;
  b.local->seen = 0.6;
  b.oracle.emplace();  // no evaluation client of either kind
  EXPECT_EQ(RoundTrip(b), b);
  b.oracle->error = "cannot fine-tune on 'seen-0'";  // could not be scored
  EXPECT_EQ(RoundTrip(b), b);
  EXPECT_NE(EventLine(b).find(R"("error":"cannot fine-tune on 'seen-0'")"),
            std::string::npos)
      << EventLine(b);

  RoutingEvent r;
  r.confusion = {{40, 1}, {2, 30}};
  r.anchor_classes = {{0}, {1}};
  EXPECT_EQ(RoundTrip(r), r);
  r.reference_gate.emplace().accuracy.unseen = 0.7;
  r.reference_gate->routing_accuracy = 0.8;
  EXPECT_EQ(RoundTrip(r), r);

  EndEvent end;
  end.rounds = 3;
  end.final_test_accuracy = 0.9;
  end.full_model_bytes = 5200;
  end.bytes_per_client_round = 4000.5;
  EXPECT_EQ(RoundTrip(end), end);
  end.accuracy.seen = 0.85;
  end.accuracy.unseen = 0.75;
  EXPECT_EQ(RoundTrip(end), end);
  end.accuracy.validation = 0.7;
  EXPECT_EQ(RoundTrip(end), end);
}

// The coordinator's lines before the events were typed: keys sorted,
// integers as integers, doubles in shortest form, no spaces.
TEST(EventsTest, LineKeepsTheMetricsFileFormat) {
  UpdateEvent update;
  update.round = 1;
  update.client = "c";
  update.samples = 10;
  update.train_loss = 0.5;
  update.bytes_sent = 3;
  update.bytes_received = 4;
  update.role = "normal";
  update.experts = {2};
  EXPECT_EQ(EventLine(update),
            R"({"bytes_received":4,"bytes_sent":3,"client":"c",)"
            R"("event":"update","experts":[2],"role":"normal","round":1,)"
            R"("samples":10,"train_loss":0.5})");
  EndEvent end;
  end.rounds = 2;
  end.final_test_accuracy = 0.1;
  end.full_model_bytes = 8;
  EXPECT_EQ(EventLine(end),
            R"({"bytes_per_client_round":0.0,"event":"end",)"
            R"("final_test_accuracy":0.1,"full_model_bytes":8,"rounds":2})");
}

TEST(EventsTest, NanIsWrittenAsNullAndReadBackAsNan) {
  RoundEvent r;
  r.train_loss = std::numeric_limits<double>::quiet_NaN();
  const std::string line = EventLine(r);
  EXPECT_NE(line.find(R"("train_loss":null)"), std::string::npos) << line;
  EXPECT_TRUE(std::isnan(RoundTrip(r).train_loss));
}

TEST(EventsTest, UnknownEventKindIsKeptByNameNotAnError) {
  auto parsed = ParseEvent(R"({"event":"checkpoint","round":2})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_TRUE(std::holds_alternative<OtherEvent>(*parsed));
  EXPECT_EQ(std::get<OtherEvent>(*parsed).name, "checkpoint");
}

TEST(EventsTest, LineThatIsNotJsonIsDataLoss) {
  auto parsed = ParseEvent(R"({"event":"rou)");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), common::StatusCode::kDataLoss);
}

TEST(EventsTest, MalformedLinesAreRejectedNamingEventAndField) {
  ExpectRejected("[1, 2]", {"not a JSON object"});
  ExpectRejected(R"({"round":1})", {"no \"event\" field"});
  ExpectRejected(R"({"event":"end","rounds":1})",
                 {"\"end\" event", "missing field \"final_test_accuracy\""});
  ExpectRejected(R"({"event":"end","rounds":"x","final_test_accuracy":0.5,)"
                 R"("full_model_bytes":1,"bytes_per_client_round":1})",
                 {"\"end\" event", "field \"rounds\" is a string",
                  "expected a non-negative integer"});
  ExpectRejected(
      R"({"event":"routing","confusion":[[1,"x"]],"anchor_classes":[]})",
      {"\"routing\" event", "field \"confusion[0][1]\" is a string"});
  ExpectRejected(R"({"event":"routing","confusion":[],"anchor_classes":[],)"
                 R"("reference_gate":{"routing_accuracy":[]}})",
                 {"field \"reference_gate.routing_accuracy\" is an array",
                  "expected a number"});
  ExpectRejected(R"({"event":"eval","round":1,"algorithm":"fedavg",)"
                 R"("test_accuracy":0.5,"clients":[{"name":"a","kind":"both",)"
                 R"("labels":[],"accuracy":1}]})",
                 {"field \"clients[0].kind\" is \"both\""});
  ExpectRejected(R"({"event":"round","round":3000000000,"clients_sampled":1,)"
                 R"("clients_reported":1,"train_loss":1,"bytes_sent":1,)"
                 R"("bytes_received":1,"seconds":1})",
                 {"field \"round\" is 3000000000, out of range"});
}

}  // namespace
}  // namespace fedjets::coordinator
