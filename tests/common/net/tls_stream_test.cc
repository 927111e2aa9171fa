// TlsStream against Asio's ssl::stream over real loopback sockets and real
// TLS 1.3: the bytes on the wire are plain TLS either way round, large
// writes and reads survive full socket buffers, and a peer that goes away
// is an error, not a signal that kills the process.
#include "common/net/tls_stream.h"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <random>
#include <vector>

#include "common/net/tls.h"
#include "tests/common/net/loopback_tls_fixture.h"

namespace fedjets::common {
namespace {

using namespace std::chrono_literals;
using boost::system::error_code;
using AsioTls = ssl::stream<tcp::socket>;

std::vector<char> RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<char> out(n);
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

class TlsStreamTest : public LoopbackTlsTest {
 protected:
  void SetUp() override {
    LoopbackTlsTest::SetUp();
    auto server = MakeServerTlsContext(Files("coordinator"));
    auto client = MakeClientTlsContext(Files("client-0"));
    ASSERT_TRUE(server.ok() && client.ok());
    server_ctx_ = *server;
    client_ctx_ = *client;
  }

  awaitable<tcp::socket> Accept() {
    co_return co_await acceptor_.async_accept(asio::use_awaitable);
  }
  awaitable<tcp::socket> Connect() {
    tcp::socket s(io_);
    co_await s.async_connect(acceptor_.local_endpoint(), asio::use_awaitable);
    co_return s;
  }

  // The server side of a peer that goes away: Asio's ssl::stream accepts,
  // completes the handshake and closes the socket without close_notify.
  awaitable<void> HandshakeThenClose() {
    AsioTls s(co_await Accept(), *server_ctx_);
    auto [h] = co_await s.async_handshake(ssl::stream_base::server, kTuple);
    if (!h) s.next_layer().close();
  }

  std::shared_ptr<ssl::context> server_ctx_, client_ctx_;
};

// 8 MiB each way is more than loopback's socket buffers hold, so each side
// also waits for the socket to drain, and many times the 256 KiB that
// OpenSSL reads ahead.
constexpr size_t kBigBytes = size_t{8} << 20;

// What the two ends of a kBigBytes-each-way exchange sent, got and ran
// into: `up` goes client to server, `down` back.
struct BothWays {
  explicit BothWays(unsigned seed)
      : up(RandomBytes(kBigBytes, seed)),
        down(RandomBytes(kBigBytes, seed + 1)),
        got_up(kBigBytes),
        got_down(kBigBytes) {}

  // Every step succeeded and each side got exactly what the other sent.
  void ExpectEachGotTheOthersBytes() const {
    ASSERT_FALSE(hs) << hs.message();
    ASSERT_FALSE(asio_ec) << asio_ec.message();
    ASSERT_FALSE(read) << read.message();
    ASSERT_FALSE(write) << write.message();
    EXPECT_TRUE(got_up == up);
    EXPECT_TRUE(got_down == down);
  }

  const std::vector<char> up, down;
  std::vector<char> got_up, got_down;
  // TlsStream's handshake, read and write; Asio's first error.
  error_code hs, read, write, asio_ec;
};

TEST_F(TlsStreamTest, ServerSideTalksToAsiosSslStreamBothWays) {
  BothWays x(1);
  RunBoth(
      [&]() -> awaitable<void> {
        TlsStream s(co_await Accept(), *server_ctx_);
        x.hs = co_await s.Handshake(ssl::stream_base::server);
        if (x.hs) co_return;
        auto [rec, n] = co_await s.Read(asio::buffer(x.got_up));
        x.read = rec;
        EXPECT_EQ(n, kBigBytes);
        const std::array<asio::const_buffer, 2> halves{
            asio::buffer(x.down.data(), 1000),
            asio::buffer(x.down.data() + 1000, x.down.size() - 1000)};
        auto [wec, m] = co_await s.Write(halves);
        x.write = wec;
        EXPECT_EQ(m, kBigBytes);
      },
      [&]() -> awaitable<void> {
        AsioTls s(co_await Connect(), *client_ctx_);
        auto [h] = co_await s.async_handshake(ssl::stream_base::client, kTuple);
        x.asio_ec = h;
        if (h) co_return;
        auto [w, n] = co_await asio::async_write(s, asio::buffer(x.up), kTuple);
        auto [r, m] =
            co_await asio::async_read(s, asio::buffer(x.got_down), kTuple);
        x.asio_ec = w ? w : r;
      });
  x.ExpectEachGotTheOthersBytes();
}

TEST_F(TlsStreamTest, ClientSideTalksToAsiosSslStreamBothWays) {
  BothWays x(3);
  RunBoth(
      [&]() -> awaitable<void> {
        AsioTls s(co_await Accept(), *server_ctx_);
        auto [h] = co_await s.async_handshake(ssl::stream_base::server, kTuple);
        x.asio_ec = h;
        if (h) co_return;
        auto [r, n] =
            co_await asio::async_read(s, asio::buffer(x.got_up), kTuple);
        auto [w, m] =
            co_await asio::async_write(s, asio::buffer(x.down), kTuple);
        x.asio_ec = r ? r : w;
      },
      [&]() -> awaitable<void> {
        TlsStream s(co_await Connect(), *client_ctx_);
        s.set_server_name("localhost");
        x.hs = co_await s.Handshake(ssl::stream_base::client);
        if (x.hs) co_return;
        const std::array<asio::const_buffer, 1> all{asio::buffer(x.up)};
        auto [wec, n] = co_await s.Write(all);
        x.write = wec;
        auto [rec, m] = co_await s.Read(asio::buffer(x.got_down));
        x.read = rec;
      });
  x.ExpectEachGotTheOthersBytes();
}

TEST_F(TlsStreamTest, AServerCertificateForAnotherHostFailsTheHandshake) {
  error_code hs;
  RunBoth(
      [&]() -> awaitable<void> {
        AsioTls s(co_await Accept(), *server_ctx_);
        (void)co_await s.async_handshake(ssl::stream_base::server, kTuple);
      },
      [&]() -> awaitable<void> {
        TlsStream s(co_await Connect(), *client_ctx_);
        s.set_server_name("coordinator.example.org");
        hs = co_await s.Handshake(ssl::stream_base::client);
      });
  ASSERT_TRUE(hs);
  EXPECT_EQ(hs.category(), asio::error::get_ssl_category()) << hs.message();
  EXPECT_NE(hs.message().find("certificate verify failed"), std::string::npos)
      << hs.message();
}

TEST_F(TlsStreamTest, APeerThatClosesWithoutCloseNotifyReadsAsTruncated) {
  error_code read;
  size_t got = 1;
  RunBoth([&]() { return HandshakeThenClose(); },
          [&]() -> awaitable<void> {
            TlsStream s(co_await Connect(), *client_ctx_);
            if (co_await s.Handshake(ssl::stream_base::client)) co_return;
            std::array<char, 16> buf{};
            auto [ec, n] = co_await s.Read(asio::buffer(buf));
            read = ec;
            got = n;
          });
  EXPECT_EQ(read, ssl::error::stream_truncated) << read.message();
  EXPECT_EQ(got, 0u);
}

// Without MSG_NOSIGNAL the write would raise SIGPIPE and end this process.
TEST_F(TlsStreamTest, WritingToAPeerThatLeftFailsWithoutASignal) {
  error_code write;
  std::vector<error_code> after;
  const auto big = RandomBytes(kBigBytes, 5);
  RunBoth([&]() { return HandshakeThenClose(); },
          [&]() -> awaitable<void> {
            TlsStream s(co_await Connect(), *client_ctx_);
            if (co_await s.Handshake(ssl::stream_base::client)) co_return;
            // Keep writing until the kernel has seen the peer's reset (the
            // first send after it fails with ECONNRESET), then write again:
            // sends to a reset connection fail with EPIPE, which raises
            // SIGPIPE unless the send says MSG_NOSIGNAL.
            const std::array<asio::const_buffer, 1> all{asio::buffer(big)};
            for (int i = 0; i < 100 && !write; ++i) {
              auto [ec, n] = co_await s.Write(all);
              write = ec;
            }
            for (int i = 0; i < 3; ++i) {
              auto [ec, n] = co_await s.Write(all);
              after.push_back(ec);
            }
          });
  ASSERT_TRUE(write);
  EXPECT_TRUE(write == asio::error::broken_pipe ||
              write == asio::error::connection_reset)
      << write.message();
  ASSERT_EQ(after.size(), 3u);
  for (const error_code& ec : after) EXPECT_TRUE(ec) << "a write succeeded";
}

TEST_F(TlsStreamTest, CancellingTheSocketEndsAPendingRead) {
  error_code read;
  RunBoth(
      [&]() -> awaitable<void> {
        AsioTls s(co_await Accept(), *server_ctx_);
        (void)co_await s.async_handshake(ssl::stream_base::server, kTuple);
        // Sends nothing and stays open until the client has given up.
        std::array<char, 1> one{};
        (void)co_await asio::async_read(s, asio::buffer(one), kTuple);
      },
      [&]() -> awaitable<void> {
        TlsStream s(co_await Connect(), *client_ctx_);
        if (co_await s.Handshake(ssl::stream_base::client)) co_return;
        asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
        timer.async_wait([&](error_code) { s.next_layer().cancel(); });
        std::array<char, 16> buf{};
        auto [ec, n] = co_await s.Read(asio::buffer(buf));
        read = ec;
        s.next_layer().close();
      });
  EXPECT_EQ(read, asio::error::operation_aborted) << read.message();
}

}  // namespace
}  // namespace fedjets::common
