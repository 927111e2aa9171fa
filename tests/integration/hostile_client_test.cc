// Hostile clients against a real coordinator over loopback mutual TLS: a
// Hello outside the limits is refused at admission, an Update that would
// poison the average is dropped, and in both cases the coordinator stays
// up and the honest clients finish the run (docs/PROTOCOL.md, "Limits").
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <thread>

#include "common/net/connection.h"
#include "common/net/tls.h"
#include "coordinator/validation.h"
#include "tests/integration/loopback_federation.h"

namespace fedjets {
namespace {

namespace asio = boost::asio;
using common::Clock;

// What the attacker sends: its Hello before it goes out, and each Update
// with the parameters that follow it.
struct Tamper {
  std::function<void(proto::Hello&)> hello = [](proto::Hello&) {};
  std::function<void(proto::Update&, common::ParameterList&)> update =
      [](proto::Update&, common::ParameterList&) {};
};

struct AttackOutcome {
  common::Status status;  // of the attacker's own session
  bool refused = false;   // the coordinator answered with an Error
  proto::Error error;
  int updates_sent = 0;
};

// A client written from the protocol alone: an honest Hello declaring 500
// samples, then every RoundTask answered by echoing the global parameters
// it was sent, as `tamper` rewrites them, until an Error or a Goodbye.
asio::awaitable<void> Attack(common::Connection& c, const Tamper& tamper,
                             AttackOutcome& out) {
  const auto deadline = Clock::now() + 60s;
  out.status = co_await c.Handshake(asio::ssl::stream_base::client, deadline);
  if (!out.status.ok()) co_return;
  proto::Envelope hello = common::MakeEnvelope("", 0);
  hello.mutable_hello()->set_protocol_version(common::kProtocolVersion);
  hello.mutable_hello()->set_client_name("attacker");
  hello.mutable_hello()->set_num_samples(500);
  tamper.hello(*hello.mutable_hello());
  out.status = co_await c.Write(hello, deadline);
  std::string run_id;
  while (out.status.ok()) {
    auto e = co_await c.Read(deadline);
    if (!e.ok()) {
      out.status = e.status();
      break;
    }
    if (e->has_error()) {
      out.refused = true;
      out.error = e->error();
      break;
    }
    if (e->has_goodbye()) break;
    if (e->has_welcome()) {
      run_id = e->run_id();
      continue;
    }
    const proto::RoundTask& task = e->round_task();
    auto params = co_await common::ReceiveParameters(
        c, run_id, e->round(), task.num_tensors(), deadline);
    if (!params.ok()) {
      out.status = params.status();
      break;
    }
    proto::Envelope reply = common::MakeEnvelope(run_id, e->round());
    proto::Update& u = *reply.mutable_update();
    u.set_num_tensors(static_cast<int32_t>(params->size()));
    u.set_num_samples(500);
    u.set_train_loss(0.5);
    tamper.update(u, *params);
    out.status = co_await c.Write(reply, deadline);
    if (out.status.ok()) {
      out.status = co_await common::SendParameters(c, run_id, e->round(),
                                                   *params, deadline);
    }
    ++out.updates_sent;
  }
}

AttackOutcome RunAttacker(uint16_t port, const common::TlsFiles& tls,
                          const Tamper& tamper) {
  AttackOutcome out;
  auto ctx = common::MakeClientTlsContext(tls);
  if (!ctx.ok()) {
    out.status = ctx.status();
    return out;
  }
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) {
    out.status = common::Unavailable(ec.message());
    return out;
  }
  common::Connection::TlsStream stream(std::move(socket), **ctx);
  stream.set_server_name("localhost");
  common::Connection conn(std::move(stream), common::ConnectionLimits{});
  asio::co_spawn(io, Attack(conn, tamper, out), asio::detached);
  io.run();
  return out;
}

class HostileClientTest : public LoopbackFederationTest {
 protected:
  struct Run {
    coordinator::RunSummary summary;
    std::string metrics;  // metrics.jsonl
    std::vector<AttackOutcome> attacks;
  };

  // A FedAvg federation of two honest clients over two rounds, every
  // client sampled every round; with `tamper`, an attacker joins too.
  Run FedAvgWith(std::optional<Tamper> tamper) {
    const int clients = tamper ? 3 : 2;
    coordinator::Coordinator c(CoordinatorOpts(clients, /*rounds=*/2));
    EXPECT_TRUE(c.Prepare().ok());
    common::Status run_status;
    std::thread coordinator_thread([&] { run_status = c.Run(); });
    Run run;
    std::thread attacker;
    if (tamper) {
      run.attacks.resize(1);
      attacker = std::thread([&] {
        run.attacks[0] = RunAttacker(c.port(), Files("client-2"), *tamper);
      });
    }
    auto results =
        client::RunClients(ClientOpts(c.port(), "client-0"), Shards({0, 1}, 3));
    if (attacker.joinable()) attacker.join();
    coordinator_thread.join();
    EXPECT_TRUE(run_status.ok()) << run_status.ToString();
    for (const auto& r : results) {
      EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
      EXPECT_EQ(r.rounds_trained, 2) << r.name;
    }
    run.summary = c.summary();
    std::ifstream in(dir_ / "run" / "metrics.jsonl");
    run.metrics.assign(std::istreambuf_iterator<char>(in), {});
    fs::remove_all(dir_ / "run");
    return run;
  }

  // The attacked run's models are bit for bit those of the run without
  // the attacker: its update never reached the average.
  static void ExpectSameModels(const coordinator::RunSummary& attacked,
                               const coordinator::RunSummary& clean) {
    ASSERT_EQ(attacked.final_params.size(), clean.final_params.size());
    for (size_t i = 0; i < clean.final_params.size(); ++i) {
      EXPECT_TRUE(attacked.final_params[i].bytes == clean.final_params[i].bytes)
          << clean.final_params[i].name << " differs from the clean run";
    }
    EXPECT_EQ(attacked.final_accuracy, clean.final_accuracy);
  }
};

TEST_F(HostileClientTest, UpdateWithNanIsDroppedAndTheModelStaysClean) {
  Tamper nan;
  nan.update = [](proto::Update&, common::ParameterList& params) {
    const float v = std::numeric_limits<float>::quiet_NaN();
    for (auto& t : params) {
      for (size_t i = 0; i + 4 <= t.bytes.size(); i += 4) {
        std::memcpy(t.bytes.data() + i, &v, 4);
      }
    }
  };
  Run attacked = FedAvgWith(nan);
  Run clean = FedAvgWith(std::nullopt);

  ASSERT_EQ(attacked.attacks[0].updates_sent, 1);
  ASSERT_TRUE(attacked.attacks[0].refused);
  EXPECT_EQ(attacked.attacks[0].error.code(),
            proto::Error::CODE_INVALID_ARGUMENT);
  EXPECT_NE(attacked.attacks[0].error.message().find("must be finite"),
            std::string::npos)
      << attacked.attacks[0].error.message();
  const auto& rounds = attacked.summary.rounds;
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[0].clients_sampled, 3);
  EXPECT_EQ(rounds[0].clients_reported, 2);
  EXPECT_EQ(rounds[0].updates_rejected,
            (std::map<std::string, int>{{"non_finite", 1}}));
  EXPECT_TRUE(rounds[1].updates_rejected.empty());
  EXPECT_TRUE(std::isfinite(attacked.summary.final_accuracy));
  EXPECT_TRUE(coordinator::CheckFinite(attacked.summary.final_params).ok());
  ExpectSameModels(attacked.summary, clean.summary);
  EXPECT_NE(attacked.metrics.find(R"("updates_rejected":{"non_finite":1})"),
            std::string::npos)
      << attacked.metrics;
  EXPECT_EQ(clean.metrics.find("updates_rejected"), std::string::npos);
  EXPECT_TRUE(RecordsOneRejection(attacked.metrics, 1, "attacker", "non_finite",
                                  "must be finite"));
  EXPECT_TRUE(RejectionsIn(clean.metrics).empty());
  EXPECT_NE(log_.str().find("update of client 'attacker' rejected in round 1"),
            std::string::npos)
      << log_.str();
}

TEST_F(HostileClientTest, UpdateClaimingInflatedSamplesIsDroppedNotWeighed) {
  Tamper inflated;  // stale weights that would freeze the model
  inflated.update = [](proto::Update& u, common::ParameterList&) {
    u.set_num_samples(1'000'000'000'000);
  };
  Run attacked = FedAvgWith(inflated);
  Run clean = FedAvgWith(std::nullopt);

  ASSERT_TRUE(attacked.attacks[0].refused);
  EXPECT_NE(attacked.attacks[0].error.message().find(
                "Update.num_samples is 1000000000000; must be in [1, 500]"),
            std::string::npos)
      << attacked.attacks[0].error.message();
  EXPECT_EQ(attacked.summary.rounds[0].updates_rejected,
            (std::map<std::string, int>{{"num_samples", 1}}));
  EXPECT_EQ(attacked.summary.rounds[0].clients_reported, 2);
  ExpectSameModels(attacked.summary, clean.summary);
  EXPECT_NE(attacked.metrics.find(R"("updates_rejected":{"num_samples":1})"),
            std::string::npos);
  EXPECT_TRUE(RecordsOneRejection(attacked.metrics, 1, "attacker",
                                  "num_samples",
                                  "Update.num_samples is 1000000000000"));
}

TEST_F(HostileClientTest, ForgedOrHugeNameIsRefusedInOneLogLine) {
  coordinator::Coordinator c(CoordinatorOpts(1, /*rounds=*/1));
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  const std::string forged =
      "x\n[info] run complete: final test accuracy 99.99%";
  for (const std::string& name : {forged, std::string(4 << 20, 'a')}) {
    Tamper t;
    t.hello = [&](proto::Hello& h) { h.set_client_name(name); };
    AttackOutcome a = RunAttacker(c.port(), Files("client-2"), t);
    ASSERT_TRUE(a.refused) << a.status.ToString();
    EXPECT_EQ(a.error.code(), proto::Error::CODE_INVALID_ARGUMENT);
    EXPECT_NE(a.error.message().find("Hello.client_name"), std::string::npos);
    EXPECT_NE(a.error.message().find("1 to 64 bytes of [A-Za-z0-9._-]"),
              std::string::npos);
  }
  auto results =
      client::RunClients(ClientOpts(c.port(), "client-0"), Shards({0}, 3));
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_EQ(c.summary().rejected_connections, 2);
  const std::string log = log_.str();
  EXPECT_EQ(log.find("\n[info] run complete"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("x\n[info] run complete)"), std::string::npos) << log;
  EXPECT_EQ(log.find(std::string(65, 'a')), std::string::npos);
  std::ifstream in(dir_ / "run" / "metrics.jsonl");
  std::string metrics(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(metrics.find(std::string(64, 'a')), std::string::npos);
}

TEST_F(HostileClientTest, FedJetsAnchorOutsideTheExpertsIsRefused) {
  auto o = CoordinatorOpts(/*min_clients=*/2, /*rounds=*/2);
  o.strategy.algorithm = "fedjets";
  o.strategy.model_family = "mlp";
  o.strategy.common_expert = "examples:500:epochs:1";
  o.strategy.num_experts = 2;
  o.strategy.top_k = 1;
  o.strategy.eval_examples = 300;
  coordinator::Coordinator c(o);
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  auto honest = Shards({0, 1}, 3, "iid", /*num_experts=*/2);
  auto attacker = Shards({2}, 3);
  attacker[0].name = "attacker";
  attacker[0].anchor_expert = 99;
  auto refused = client::RunClients(ClientOpts(c.port(), "client-2"), attacker);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_FALSE(refused[0].status.ok());
  EXPECT_NE(refused[0].status.message().find(
                "Hello.anchor_expert of client 'attacker' is 99; must be in "
                "[0, 2)"),
            std::string::npos)
      << refused[0].status.ToString();

  auto results = client::RunClients(ClientOpts(c.port(), "client-0"), honest);
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  for (const auto& r : results) {
    EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
    EXPECT_EQ(r.rounds_trained, 2) << r.name;
  }
  EXPECT_EQ(c.summary().rejected_connections, 1);
  ASSERT_EQ(c.summary().rounds.size(), 2u);
  EXPECT_EQ(c.summary().rounds[1].clients_reported, 2);
  EXPECT_NE(log_.str().find("Hello.anchor_expert of client 'attacker' is 99"),
            std::string::npos)
      << log_.str();
}

}  // namespace
}  // namespace fedjets
