// Tensor streams (SendParameters / ReceiveParameters) over real loopback
// sockets, from peers that lay frames out differently or stop short.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>

#include "common/net/chunk_frame.h"
#include "common/net/connection.h"

namespace fedjets::common {
namespace {

using namespace std::chrono_literals;

// A plain-TCP loopback pair: a receiving and a sending coroutine.
class TensorStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
  }

  awaitable<std::unique_ptr<Connection>> Accept(ConnectionLimits limits) {
    tcp::socket s = co_await acceptor_.async_accept(asio::use_awaitable);
    co_return std::make_unique<Connection>(std::move(s), limits);
  }

  awaitable<std::unique_ptr<Connection>> Dial(ConnectionLimits limits) {
    tcp::socket s(io_);
    co_await s.async_connect(acceptor_.local_endpoint(), asio::use_awaitable);
    co_return std::make_unique<Connection>(std::move(s), limits);
  }

  template <typename F>
  void RunBoth(F server, F client) {
    asio::co_spawn(io_, server(), asio::detached);
    asio::co_spawn(io_, client(), asio::detached);
    io_.run_for(20s);
  }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
};

// Chunk envelopes serialized whole (as any protobuf peer writes them),
// one of them with a name too long for the reader to find its data in the
// first bytes it reads, arrive as SendParameters' do.
TEST_F(TensorStreamTest, ChunksSerializedWholeAreReceivedToo) {
  WireTensor a{std::string(3000, 'n'), proto::DTYPE_FLOAT32, {300}, {}};
  WireTensor b{"b", proto::DTYPE_UINT8, {5000}, {}};
  a.bytes.assign(1200, 'a');
  for (int i = 0; i < 5000; ++i) b.bytes.push_back(static_cast<char>(i));
  const std::string run_id = "run";
  Result<ParameterList> got = InvalidArgument("not received");
  RunBoth(std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Accept(ConnectionLimits{});
            got = co_await ReceiveParameters(*conn, run_id, 1, 2,
                                             Clock::now() + 10s);
          }),
          std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Dial(ConnectionLimits{});
            int32_t index = 0;
            for (const WireTensor* t : {&a, &b}) {
              for (proto::TensorChunk& c : ChunkTensor(index, *t, 1000)) {
                proto::Envelope e = MakeEnvelope(run_id, 1);
                *e.mutable_tensor_chunk() = std::move(c);
                EXPECT_TRUE((co_await conn->Write(e, Clock::now() + 10s)).ok());
              }
              ++index;
            }
            asio::steady_timer t(io_, 1s);
            co_await t.async_wait(asio::use_awaitable);
          }));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].name, a.name);
  EXPECT_TRUE((*got)[0].bytes == a.bytes);
  EXPECT_TRUE((*got)[1].bytes == b.bytes);
}

TEST_F(TensorStreamTest, ChunkDataCutShortIsDataLossCountedFromTheFrameStart) {
  WireTensor t{"w", proto::DTYPE_UINT8, {5000}, std::string(5000, 'x')};
  std::string prefix;
  ASSERT_TRUE(EncodeChunkFramePrefix("run", 1, 0, t, 0, 5000,
                                     kDefaultMaxFrameBytes, prefix)
                  .ok());
  const size_t body = prefix.size() - kFrameHeaderBytes + 5000;
  const std::string run_id = "run";
  Status status;
  RunBoth(std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Accept(ConnectionLimits{});
            auto got = co_await ReceiveParameters(*conn, run_id, 1, 1,
                                                  Clock::now() + 10s);
            status = got.status();
          }),
          std::function<awaitable<void>()>([&]() -> awaitable<void> {
            tcp::socket s(io_);
            co_await s.async_connect(acceptor_.local_endpoint(),
                                     asio::use_awaitable);
            // The prefix and 3000 of the 5000 data bytes, then hang up.
            co_await asio::async_write(s, asio::buffer(prefix),
                                       asio::use_awaitable);
            co_await asio::async_write(s, asio::buffer(t.bytes.data(), 3000),
                                       asio::use_awaitable);
            s.close();
          }));
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status.ToString();
  EXPECT_NE(status.message().find(
                fmt::format("got {} of {} body bytes", body - 2000, body)),
            std::string::npos)
      << status.ToString();
}

}  // namespace
}  // namespace fedjets::common
