// JoinGate (client/session.h): how many of a process's clients join at
// once, first come first served, and a waiting client that leaves.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <vector>

#include "client/session.h"

namespace fedjets::client {
namespace {

// One client waiting for or holding a slot.
struct Joiner {
  explicit Joiner(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  JoinGate::Slot slot;
  bool done = false;  // Enter returned
};

void Enter(asio::io_context& io, JoinGate& gate, Joiner& j) {
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        j.slot = co_await gate.Enter(j.timer);
        j.done = true;
      },
      asio::detached);
}

TEST(JoinGateTest, AtMostTheSlotsJoinAtOnceAndTheRestWaitInOrder) {
  asio::io_context io;
  JoinGate gate(2);
  std::vector<std::unique_ptr<Joiner>> j;
  for (int i = 0; i < 4; ++i) {
    j.push_back(std::make_unique<Joiner>(io));
    Enter(io, gate, *j.back());
  }
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(j[0]->slot && j[1]->slot);
  EXPECT_FALSE(j[2]->done || j[3]->done);
  EXPECT_EQ(gate.waiting(), 2);

  j[1]->slot.Release();  // the first waiter gets it, not the second
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(j[2]->slot);
  EXPECT_FALSE(j[3]->done);

  j[0]->slot = JoinGate::Slot();  // assigning over a slot releases it
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(j[3]->slot);
  EXPECT_EQ(gate.waiting(), 0);
}

TEST(JoinGateTest, AWaiterThatLeavesGetsNoSlotAndTakesNoneAway) {
  asio::io_context io;
  JoinGate gate(1);
  Joiner a(io), b(io), c(io);
  Enter(io, gate, a);
  Enter(io, gate, b);
  Enter(io, gate, c);
  io.run_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(a.slot);
  b.timer.cancel();  // b leaves while waiting
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(b.done);
  EXPECT_FALSE(b.slot);
  EXPECT_FALSE(c.done);
  EXPECT_EQ(gate.waiting(), 1);

  a.slot.Release();  // goes to c, the only one still waiting
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(c.slot);
  c.slot.Release();
  // Every slot is free again: a newcomer enters at once.
  Joiner d(io);
  Enter(io, gate, d);
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(d.slot);
}

}  // namespace
}  // namespace fedjets::client
