// Exhaustion by one joined client, against a real coordinator over
// loopback mutual TLS (docs/PROTOCOL.md, "Limits"): an update streamed past
// its byte cap is cut off from a frame header, before the coordinator
// buffers it; a client that goes silent is dropped at the silence deadline,
// long before the round deadline; a slow client that sends heartbeats is
// kept. In each case the honest clients finish the run.
//
// The hostile client is written against the wire alone: TLS, frames and
// envelopes, with no fedjets session code.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <functional>
#include <thread>

#include "common/net/connection.h"
#include "common/net/frame.h"
#include "common/net/tensor_codec.h"
#include "common/net/tls.h"
#include "tests/integration/loopback_federation.h"

namespace fedjets {
namespace {

namespace asio = boost::asio;
using common::Status;

// A TLS client speaking raw frames. Every operation fails once
// kGiveUpAfter has passed since it connected, so a coordinator that never
// answers fails the test instead of hanging it.
class RawClient {
 public:
  static constexpr auto kGiveUpAfter = 120s;

  RawClient(asio::io_context& io, asio::ssl::context& tls)
      : stream_(io, tls), watchdog_(io) {}

  asio::awaitable<Status> Connect(uint16_t port) {
    watchdog_.expires_after(kGiveUpAfter);
    watchdog_.async_wait([this](boost::system::error_code ec) {
      if (!ec) stream_.lowest_layer().close();
    });
    auto [ec] = co_await stream_.lowest_layer().async_connect(
        {asio::ip::make_address("127.0.0.1"), port}, kTuple);
    if (ec) co_return common::Unavailable(ec.message());
    SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
    auto [hec] = co_await stream_.async_handshake(
        asio::ssl::stream_base::client, kTuple);
    if (hec) co_return common::Unavailable(hec.message());
    co_return Status::Ok();
  }

  // Writes `bytes` in 64 KiB pieces; returns how many went out before the
  // first error (all of them when none).
  asio::awaitable<uint64_t> SendRaw(const std::string& bytes) {
    uint64_t sent = 0;
    while (sent < bytes.size()) {
      const size_t n = std::min<size_t>(64 << 10, bytes.size() - sent);
      auto [ec, w] = co_await asio::async_write(
          stream_, asio::buffer(bytes.data() + sent, n), kTuple);
      sent += w;
      if (ec) break;
    }
    co_return sent;
  }

  asio::awaitable<Status> Send(const proto::Envelope& e) {
    auto frame = common::EncodeFrame(e.SerializeAsString(),
                                     common::kDefaultMaxFrameBytes);
    if (!frame.ok()) co_return frame.status();
    const uint64_t sent = co_await SendRaw(*frame);
    if (sent != frame->size()) co_return common::Unavailable("write failed");
    co_return Status::Ok();
  }

  asio::awaitable<common::Result<proto::Envelope>> Receive() {
    common::FrameHeader header;
    auto [ec, n] =
        co_await asio::async_read(stream_, asio::buffer(header), kTuple);
    if (ec) co_return common::Unavailable("read: " + ec.message());
    std::string body(common::DecodeFrameHeader(header), '\0');
    auto [ec2, m] =
        co_await asio::async_read(stream_, asio::buffer(body), kTuple);
    if (ec2) co_return common::Unavailable("read: " + ec2.message());
    proto::Envelope e;
    if (!e.ParseFromString(body)) co_return common::DataLoss("bad envelope");
    co_return e;
  }

  void Close() {
    watchdog_.cancel();
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
  }

 private:
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  asio::steady_timer watchdog_;
};

// What the hostile client saw.
struct Seen {
  Status status;
  int round_tasks = 0;
  int updates_sent = 0;
  bool refused = false;  // the coordinator answered with an Error
  proto::Error error;
  uint64_t oversized_sent = 0;  // bytes of the oversized frame that went out
};

// How the hostile client answers a round task, given the global tensors it
// was sent; returns false to stop answering (and just wait for the end).
using Answer = std::function<asio::awaitable<bool>(
    RawClient&, const std::string& run_id, int64_t round,
    const common::ParameterList& global, Seen& seen)>;

// Sends the Update of an honest echo: the global tensors back.
asio::awaitable<Status> SendUpdate(RawClient& c, const std::string& run_id,
                                   int64_t round,
                                   const common::ParameterList& params) {
  proto::Envelope u = common::MakeEnvelope(run_id, round);
  u.mutable_update()->set_num_tensors(static_cast<int32_t>(params.size()));
  u.mutable_update()->set_num_samples(500);
  u.mutable_update()->set_train_loss(0.5);
  if (Status st = co_await c.Send(u); !st.ok()) co_return st;
  for (size_t i = 0; i < params.size(); ++i) {
    for (auto& chunk :
         common::ChunkTensor(static_cast<int32_t>(i), params[i], 1 << 20)) {
      proto::Envelope e = common::MakeEnvelope(run_id, round);
      *e.mutable_tensor_chunk() = std::move(chunk);
      if (Status st = co_await c.Send(e); !st.ok()) co_return st;
    }
  }
  co_return Status::Ok();
}

// Joins as "attacker" (500 samples) and answers every round task with
// `answer` until an Error, a Goodbye or a closed connection.
asio::awaitable<void> Play(RawClient& c, uint16_t port, const Answer& answer,
                           Seen& seen) {
  seen.status = co_await c.Connect(port);
  if (!seen.status.ok()) co_return;
  proto::Envelope hello = common::MakeEnvelope("", 0);
  hello.mutable_hello()->set_protocol_version(common::kProtocolVersion);
  hello.mutable_hello()->set_client_name("attacker");
  hello.mutable_hello()->set_num_samples(500);
  seen.status = co_await c.Send(hello);
  std::string run_id;
  bool answering = true;
  while (seen.status.ok()) {
    auto e = co_await c.Receive();
    if (!e.ok()) {
      seen.status = e.status();
      break;
    }
    if (e->has_error()) {
      seen.refused = true;
      seen.error = e->error();
      break;
    }
    if (e->has_goodbye()) break;
    if (e->has_welcome()) {
      run_id = e->run_id();
      continue;
    }
    if (!e->has_round_task()) continue;
    ++seen.round_tasks;
    common::TensorAssembler global(e->round_task().num_tensors(), 1 << 30);
    while (!global.complete()) {
      auto chunk = co_await c.Receive();
      if (!chunk.ok() || !global.Add(chunk->tensor_chunk()).ok()) {
        seen.status = common::DataLoss("bad global tensors");
        co_return;
      }
    }
    if (answering) {
      answering = co_await answer(c, run_id, e->round(), global.Take(), seen);
    }
  }
  c.Close();
}

class UpdateStreamLimitsTest : public LoopbackFederationTest {
 protected:
  struct Run {
    coordinator::RunSummary summary;
    std::string metrics;  // metrics.jsonl
    Seen attacker;
  };

  // FedAvg, two honest clients and the hostile one, every client sampled
  // in both rounds; a silent client would hold a round for the whole
  // 120 s round timeout, but the silence timeout is 2 s.
  Run FedAvgWith(const Answer& answer) {
    auto o = CoordinatorOpts(/*min_clients=*/3, /*rounds=*/2);
    o.round_timeout = 120s;
    o.client_silence_timeout = 2s;
    coordinator::Coordinator c(o);
    EXPECT_TRUE(c.Prepare().ok());
    Status run_status;
    std::thread coordinator_thread([&] { run_status = c.Run(); });
    Run run;
    std::thread attacker([&] {
      auto tls = common::MakeClientTlsContext(Files("client-2"));
      if (!tls.ok()) {
        run.attacker.status = tls.status();
        return;
      }
      asio::io_context io;
      RawClient raw(io, **tls);
      asio::co_spawn(io, Play(raw, c.port(), answer, run.attacker),
                     asio::detached);
      io.run();
    });
    auto results =
        client::RunClients(ClientOpts(c.port(), "client-0"), Shards({0, 1}, 3));
    attacker.join();
    coordinator_thread.join();
    EXPECT_TRUE(run_status.ok()) << run_status.ToString();
    for (const auto& r : results) {
      EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
      EXPECT_EQ(r.rounds_trained, 2) << r.name;
    }
    run.summary = c.summary();
    std::ifstream in(dir_ / "run" / "metrics.jsonl");
    run.metrics.assign(std::istreambuf_iterator<char>(in), {});
    return run;
  }
};

TEST_F(UpdateStreamLimitsTest, OversizedUpdateIsCutOffBeforeItIsBuffered) {
  // The right first tensor, announced in one 48 MiB frame (within the
  // 64 MiB frame limit, far past the ~0.4 MB model's byte cap).
  constexpr size_t kOversized = 48 << 20;
  Answer oversized = [](RawClient& c, const std::string& run_id, int64_t round,
                        const common::ParameterList& global,
                        Seen& seen) -> asio::awaitable<bool> {
    proto::Envelope u = common::MakeEnvelope(run_id, round);
    u.mutable_update()->set_num_tensors(static_cast<int32_t>(global.size()));
    u.mutable_update()->set_num_samples(500);
    u.mutable_update()->set_train_loss(0.5);
    if (!(co_await c.Send(u)).ok()) co_return false;
    proto::Envelope e = common::MakeEnvelope(run_id, round);
    *e.mutable_tensor_chunk() = common::ChunkTensor(0, global[0], 1 << 30)[0];
    e.mutable_tensor_chunk()->mutable_data()->resize(kOversized);
    const std::string body = e.SerializeAsString();
    auto frame = common::EncodeFrameHeader(static_cast<uint32_t>(body.size()));
    std::string bytes(frame.begin(), frame.end());
    bytes += body;
    seen.oversized_sent = co_await c.SendRaw(bytes);
    ++seen.updates_sent;
    co_return false;
  };
  Run run = FedAvgWith(oversized);

  EXPECT_EQ(run.attacker.updates_sent, 1);
  // The coordinator closed the connection while the frame was still being
  // sent: it never read (let alone held) the 48 MiB.
  EXPECT_LT(run.attacker.oversized_sent, kOversized);
  const auto& rounds = run.summary.rounds;
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[0].clients_sampled, 3);
  EXPECT_EQ(rounds[0].clients_reported, 2);
  EXPECT_EQ(rounds[0].updates_rejected,
            (std::map<std::string, int>{{"too_large", 1}}));
  EXPECT_LT(rounds[0].bytes_received, uint64_t{kOversized});
  EXPECT_EQ(rounds[1].clients_sampled, 2);
  EXPECT_NE(run.metrics.find(R"("updates_rejected":{"too_large":1})"),
            std::string::npos)
      << run.metrics;
  EXPECT_TRUE(
      RecordsOneRejection(run.metrics, 1, "attacker", "too_large", "unread"));
  const std::string log = log_.str();
  EXPECT_NE(log.find("update of client 'attacker' rejected in round 1 "
                     "(too_large)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("refused unread"), std::string::npos) << log;
}

TEST_F(UpdateStreamLimitsTest, SilentClientIsDroppedAtTheSilenceDeadline) {
  Answer silent = [](RawClient&, const std::string&, int64_t,
                     const common::ParameterList&,
                     Seen&) -> asio::awaitable<bool> { co_return false; };
  Run run = FedAvgWith(silent);

  EXPECT_EQ(run.attacker.round_tasks, 1);
  ASSERT_TRUE(run.attacker.refused) << run.attacker.status.ToString();
  EXPECT_EQ(run.attacker.error.code(), proto::Error::CODE_DEADLINE_EXCEEDED);
  EXPECT_NE(run.attacker.error.message().find("--client-silence-timeout"),
            std::string::npos)
      << run.attacker.error.message();
  const auto& rounds = run.summary.rounds;
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[0].clients_reported, 2);
  EXPECT_EQ(rounds[0].updates_rejected,
            (std::map<std::string, int>{{"silent", 1}}));
  EXPECT_NE(run.metrics.find(R"("updates_rejected":{"silent":1})"),
            std::string::npos)
      << run.metrics;
  EXPECT_TRUE(RecordsOneRejection(run.metrics, 1, "attacker", "silent",
                                  "--client-silence-timeout"));
  EXPECT_NE(log_.str().find(
                "update of client 'attacker' rejected in round 1 (silent)"),
            std::string::npos)
      << log_.str();
}

TEST_F(UpdateStreamLimitsTest, SlowClientThatSendsHeartbeatsIsKept) {
  // Works for 5 s, well past the 2 s silence timeout, with a heartbeat
  // every 0.5 s; then answers honestly.
  Answer slow = [](RawClient& c, const std::string& run_id, int64_t round,
                   const common::ParameterList& global,
                   Seen& seen) -> asio::awaitable<bool> {
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (int i = 0; i < 10; ++i) {
      t.expires_after(500ms);
      co_await t.async_wait(kTuple);
      proto::Envelope hb = common::MakeEnvelope(run_id, round);
      hb.mutable_heartbeat();
      if (!(co_await c.Send(hb)).ok()) co_return false;
    }
    if (!(co_await SendUpdate(c, run_id, round, global)).ok()) co_return false;
    ++seen.updates_sent;
    co_return true;
  };
  Run run = FedAvgWith(slow);

  EXPECT_TRUE(run.attacker.status.ok()) << run.attacker.status.ToString();
  EXPECT_FALSE(run.attacker.refused) << run.attacker.error.message();
  EXPECT_EQ(run.attacker.updates_sent, 2);
  for (const auto& r : run.summary.rounds) {
    EXPECT_EQ(r.clients_reported, 3) << "round " << r.round;
    EXPECT_TRUE(r.updates_rejected.empty()) << "round " << r.round;
  }
}

}  // namespace
}  // namespace fedjets
