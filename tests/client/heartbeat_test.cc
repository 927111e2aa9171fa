// Heartbeats while a round task's work runs on the training thread
// (client/heartbeat.h), over a real loopback connection.
#include "client/heartbeat.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cmath>
#include <future>
#include <limits>
#include <memory>
#include <stdexcept>
#include <thread>

namespace fedjets::client {
namespace {

using namespace std::chrono_literals;
using common::Clock;
using common::Connection;

TEST(HeartbeatIntervalTest, FollowsTheWelcomeWithAFloor) {
  proto::Welcome w;
  EXPECT_EQ(*HeartbeatInterval(w), Clock::duration::zero());
  w.set_heartbeat_seconds(15);
  EXPECT_EQ(*HeartbeatInterval(w), 15s);
  w.set_heartbeat_seconds(1e-6);  // would flood the coordinator
  EXPECT_EQ(*HeartbeatInterval(w), 100ms);
}

TEST(HeartbeatIntervalTest, RefusesANegativeOrNonFiniteInterval) {
  proto::Welcome w;
  for (double bad : {-1.0, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    w.set_heartbeat_seconds(bad);
    auto got = HeartbeatInterval(w);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_NE(got.status().message().find("Welcome.heartbeat_seconds"),
              std::string::npos);
  }
}

TEST(SilenceBoundTest, FollowsTheWelcomeWithAFloorAndZeroMeansNone) {
  proto::Welcome w;
  EXPECT_EQ(*SilenceBound(w), Clock::duration::zero());
  w.set_silence_seconds(60);
  EXPECT_EQ(*SilenceBound(w), 60s);
  w.set_silence_seconds(0.01);  // would drop a healthy coordinator
  EXPECT_EQ(*SilenceBound(w), 1s);
  w.set_silence_seconds(-2);
  auto bad = SilenceBound(w);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Welcome.silence_seconds"),
            std::string::npos);
}

class HeartbeatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    tcp::socket client(io_);
    client.connect(acceptor_.local_endpoint());
    tcp::socket server = acceptor_.accept();
    worker_ = std::make_unique<Connection>(std::move(client),
                                           common::ConnectionLimits{});
    coordinator_ = std::make_unique<Connection>(std::move(server),
                                                common::ConnectionLimits{});
  }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  asio::thread_pool trainer_{1};
  std::unique_ptr<Connection> worker_;       // the client's end
  std::unique_ptr<Connection> coordinator_;  // the coordinator's end
  const std::string run_id_ = "run-1";
};

TEST_F(HeartbeatTest, WorkThatOutlastsTheIntervalIsCoveredByHeartbeats) {
  // The work ends only once the coordinator's end has read three
  // heartbeats: it can finish only if they are sent while it runs.
  std::promise<void> three_seen;
  std::future<void> released = three_seen.get_future();
  int result = 0, heartbeats = 0;
  asio::co_spawn(
      io_,
      [&]() -> awaitable<void> {
        result = co_await OnTrainerWithHeartbeats(
            trainer_, *worker_, run_id_, /*round=*/4, 20ms, [&] {
              return released.wait_for(30s) == std::future_status::ready ? 42
                                                                         : -1;
            });
        worker_->Close();
      },
      asio::detached);
  asio::co_spawn(
      io_,
      [&]() -> awaitable<void> {
        for (;;) {
          auto e = co_await coordinator_->Read(Clock::now() + 30s);
          if (!e.ok()) co_return;
          EXPECT_TRUE(e->has_heartbeat());
          EXPECT_TRUE(common::CheckEnvelope(*e, run_id_, 4).ok());
          if (++heartbeats == 3) three_seen.set_value();
        }
      },
      asio::detached);
  io_.run();
  EXPECT_EQ(result, 42);
  EXPECT_GE(heartbeats, 3);
}

TEST_F(HeartbeatTest, ZeroIntervalSendsNone) {
  int result = 0;
  std::string first_kind;
  asio::co_spawn(
      io_,
      [&]() -> awaitable<void> {
        result = co_await OnTrainerWithHeartbeats(
            trainer_, *worker_, run_id_, 4, Clock::duration::zero(), [] {
              std::this_thread::sleep_for(100ms);
              return 7;
            });
        proto::Envelope done = common::MakeEnvelope(run_id_, 4);
        done.mutable_goodbye();
        (void)co_await worker_->Write(done, Clock::now() + 5s);
      },
      asio::detached);
  asio::co_spawn(
      io_,
      [&]() -> awaitable<void> {
        auto e = co_await coordinator_->Read(Clock::now() + 30s);
        first_kind = e.ok() && e->has_goodbye() ? "goodbye" : "other";
      },
      asio::detached);
  io_.run();
  EXPECT_EQ(result, 7);
  EXPECT_EQ(first_kind, "goodbye");
}

TEST_F(HeartbeatTest, AnExceptionInTheWorkReachesTheCaller) {
  std::string caught;
  asio::co_spawn(
      io_,
      [&]() -> awaitable<void> {
        try {
          (void)co_await OnTrainerWithHeartbeats(
              trainer_, *worker_, run_id_, 4, 10ms,
              []() -> int { throw std::runtime_error("out of memory"); });
        } catch (const std::exception& e) {
          caught = e.what();
        }
      },
      asio::detached);
  io_.run();
  EXPECT_EQ(caught, "out of memory");
}

}  // namespace
}  // namespace fedjets::client
