// Transport tests over real loopback sockets and real TLS 1.3.
#include "common/net/connection.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <functional>
#include <limits>

#include "common/net/tls.h"
#include "tests/common/net/loopback_tls_fixture.h"

namespace fedjets::common {
namespace {

using namespace std::chrono_literals;

// How ConnectionTest::ReadFromRawPeer reads: its deadline, frame timeout
// and body budget.
struct ReadWith {
  Clock::duration deadline = 5s;
  Clock::duration frame_timeout{};
  uint64_t max_body_bytes = std::numeric_limits<uint64_t>::max();
};

class ConnectionTest : public LoopbackTlsTest {
 protected:
  // Accepts one connection and wraps it (TLS when server_ctx is set).
  awaitable<std::unique_ptr<Connection>> Accept(
      std::shared_ptr<ssl::context> server_ctx, ConnectionLimits limits) {
    tcp::socket s = co_await acceptor_.async_accept(asio::use_awaitable);
    if (!server_ctx)
      co_return std::make_unique<Connection>(std::move(s), limits);
    co_return std::make_unique<Connection>(
        Connection::TlsStream(std::move(s), *server_ctx), limits);
  }

  awaitable<std::unique_ptr<Connection>> Dial(
      std::shared_ptr<ssl::context> client_ctx, ConnectionLimits limits,
      const std::string& server_name = "localhost") {
    tcp::socket s(io_);
    co_await s.async_connect(acceptor_.local_endpoint(), asio::use_awaitable);
    if (!client_ctx)
      co_return std::make_unique<Connection>(std::move(s), limits);
    Connection::TlsStream stream(std::move(s), *client_ctx);
    stream.set_server_name(server_name);
    co_return std::make_unique<Connection>(std::move(stream), limits);
  }

  // Reads one frame on an accepted plain-TCP connection while `peer` writes
  // raw bytes to the other end; returns the read's status.
  Status ReadFromRawPeer(ConnectionLimits limits,
                         std::function<awaitable<void>(tcp::socket&)> peer,
                         ReadWith how = {}) {
    Status read_status;
    RunBoth(std::function<awaitable<void>()>([&]() -> awaitable<void> {
              auto conn = co_await Accept(nullptr, limits);
              conn->set_frame_timeout(how.frame_timeout);
              auto e = co_await conn->Read(Clock::now() + how.deadline,
                                           how.max_body_bytes);
              read_status = e.status();
            }),
            std::function<awaitable<void>()>([&]() -> awaitable<void> {
              tcp::socket s(io_);
              co_await s.async_connect(acceptor_.local_endpoint(),
                                       asio::use_awaitable);
              co_await peer(s);
            }));
    return read_status;
  }
};

std::shared_ptr<ssl::context> Must(Result<std::shared_ptr<ssl::context>> ctx) {
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  return ctx.ok() ? *ctx : nullptr;
}

TEST_F(ConnectionTest, TensorLargerThanFrameLimitStreamsOverMutualTls) {
  ConnectionLimits limits;
  limits.max_frame_bytes = 64 << 10;
  limits.chunk_bytes = 16 << 10;
  auto server_ctx = Must(MakeServerTlsContext(Files("coordinator")));
  auto client_ctx = Must(MakeClientTlsContext(Files("client-0")));
  WireTensor big{"big", proto::DTYPE_FLOAT32, {256, 1024}, {}};
  big.bytes.resize(256 * 1024 * 4);
  for (size_t i = 0; i < big.bytes.size(); ++i) big.bytes[i] = char(i * 7);
  ASSERT_GT(big.bytes.size(), limits.max_frame_bytes);
  Status sent, received;
  ParameterList got;
  const std::string run_id = "run";  // GCC 12 coroutines: no literal temps
  const ParameterList params = {big};
  RunBoth(
      std::function<awaitable<void>()>([&]() -> awaitable<void> {
        auto conn = co_await Accept(server_ctx, limits);
        auto deadline = Clock::now() + 10s;
        received = co_await conn->Handshake(ssl::stream_base::server, deadline);
        if (!received.ok()) co_return;
        auto params = co_await ReceiveParameters(*conn, run_id, 3, 1, deadline);
        received = params.status();
        if (params.ok()) got = *params;
        proto::Envelope ack = MakeEnvelope(run_id, 3);
        ack.mutable_goodbye()->set_reason("received");
        (void)co_await conn->Write(ack, deadline);
      }),
      std::function<awaitable<void>()>([&]() -> awaitable<void> {
        auto conn = co_await Dial(client_ctx, limits);
        auto deadline = Clock::now() + 10s;
        sent = co_await conn->Handshake(ssl::stream_base::client, deadline);
        if (!sent.ok()) co_return;
        sent = co_await SendParameters(*conn, run_id, 3, params, deadline);
        EXPECT_GT(conn->bytes_sent(), big.bytes.size());
        // Stay open until the peer has read everything.
        auto ack = co_await conn->Read(deadline);
        EXPECT_TRUE(ack.ok()) << ack.status().ToString();
      }));
  ASSERT_TRUE(sent.ok()) << sent.ToString();
  ASSERT_TRUE(received.ok()) << received.ToString();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shape, big.shape);
  EXPECT_TRUE(got[0].bytes == big.bytes);
}

TEST_F(ConnectionTest, OversizedFrameIsRejectedBeforeReadingItsBody) {
  ConnectionLimits limits;
  limits.max_frame_bytes = 64 << 10;
  limits.chunk_bytes = 16 << 10;
  Status read_status =
      ReadFromRawPeer(limits, [&](tcp::socket& s) -> awaitable<void> {
        // Declare 1 GiB but send only the header: a reader that allocated
        // or waited for the body would not answer at once.
        FrameHeader h = EncodeFrameHeader(1u << 30);
        co_await asio::async_write(s, asio::buffer(h), asio::use_awaitable);
        asio::steady_timer t(io_, 2s);
        co_await t.async_wait(asio::use_awaitable);
      });
  EXPECT_EQ(read_status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(read_status.message().find("exceeds the limit"), std::string::npos)
      << read_status.ToString();
}

TEST_F(ConnectionTest, TruncatedFrameIsReportedAsDataLoss) {
  Status read_status = ReadFromRawPeer(
      ConnectionLimits{}, [](tcp::socket& s) -> awaitable<void> {
        FrameHeader h = EncodeFrameHeader(100);
        co_await asio::async_write(s, asio::buffer(h), asio::use_awaitable);
        co_await asio::async_write(s, asio::buffer("0123456789", 10),
                                   asio::use_awaitable);
        s.close();
      });
  EXPECT_EQ(read_status.code(), StatusCode::kDataLoss);
  EXPECT_NE(read_status.message().find("got 10 of 100"), std::string::npos)
      << read_status.ToString();
}

TEST_F(ConnectionTest, ReadPastDeadlineFailsWithDeadlineExceeded) {
  Status read_status;
  Clock::duration waited{};
  RunBoth(std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Accept(nullptr, ConnectionLimits{});
            auto start = Clock::now();
            auto e = co_await conn->Read(Clock::now() + 300ms);
            waited = Clock::now() - start;
            read_status = e.status();
          }),
          std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Dial(nullptr, ConnectionLimits{});
            asio::steady_timer t(io_, 2s);  // connected but silent
            co_await t.async_wait(asio::use_awaitable);
          }));
  EXPECT_EQ(read_status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(waited, 1500ms);
}

TEST_F(ConnectionTest, FrameOverTheReadersBudgetIsRefusedFromItsHeader) {
  Status read_status = ReadFromRawPeer(
      ConnectionLimits{},
      [&](tcp::socket& s) -> awaitable<void> {
        // Within the 64 MiB frame limit, over the 100-byte budget; the body
        // never comes, so only a reader that stops at the header answers
        // before the peer hangs up.
        FrameHeader h = EncodeFrameHeader(1000);
        co_await asio::async_write(s, asio::buffer(h), asio::use_awaitable);
        asio::steady_timer t(io_, 2s);
        co_await t.async_wait(asio::use_awaitable);
      },
      {.max_body_bytes = 100});
  EXPECT_EQ(read_status.code(), StatusCode::kResourceExhausted)
      << read_status.ToString();
  EXPECT_NE(read_status.message().find("frame of 1000 bytes from 127.0.0.1:"),
            std::string::npos)
      << read_status.ToString();
  EXPECT_NE(read_status.message().find("refused unread: this message may "
                                       "take at most 100 more bytes"),
            std::string::npos)
      << read_status.ToString();
}

TEST_F(ConnectionTest, FrameTimeoutCutsOffASilentPeerLongBeforeTheDeadline) {
  Status read_status =
      ReadFromRawPeer(ConnectionLimits{},
                      [&](tcp::socket& s) -> awaitable<void> {
                        // Connected but silent; then it leaves, which a reader
                        // without the frame timeout would report instead.
                        asio::steady_timer t(io_, 3s);
                        co_await t.async_wait(asio::use_awaitable);
                        s.close();
                      },
                      {.deadline = 10s, .frame_timeout = 200ms});
  EXPECT_EQ(read_status.code(), StatusCode::kDeadlineExceeded)
      << read_status.ToString();
  EXPECT_NE(read_status.message().find("no progress for 0.2 s (frame timeout)"),
            std::string::npos)
      << read_status.ToString();
}

TEST_F(ConnectionTest, StalledFrameBodyIsADeadlineNotDataLoss) {
  Status read_status = ReadFromRawPeer(
      ConnectionLimits{},
      [&](tcp::socket& s) -> awaitable<void> {
        FrameHeader h = EncodeFrameHeader(100);
        co_await asio::async_write(s, asio::buffer(h), asio::use_awaitable);
        co_await asio::async_write(s, asio::buffer("0123456789", 10),
                                   asio::use_awaitable);
        asio::steady_timer t(io_, 3s);
        co_await t.async_wait(asio::use_awaitable);
      },
      {.deadline = 10s, .frame_timeout = 200ms});
  EXPECT_EQ(read_status.code(), StatusCode::kDeadlineExceeded)
      << read_status.ToString();
  EXPECT_NE(read_status.message().find("stalled at 10 of 100 body bytes"),
            std::string::npos)
      << read_status.ToString();
}

TEST_F(ConnectionTest, ClientCertificateFromAnotherCaIsRefused) {
  auto rogue = dir_ / "rogue";
  ASSERT_TRUE(GenerateCa(rogue, "rogue CA").ok());
  ASSERT_TRUE(GenerateNodeCert(rogue, rogue, "mallory", CertRole::kClient,
                               {"localhost"})
                  .ok());
  auto server_ctx = Must(MakeServerTlsContext(Files("coordinator")));
  // Mallory trusts the real CA (so she accepts the server) but her own
  // certificate is signed by the rogue CA.
  auto client_ctx = Must(MakeClientTlsContext(
      {(dir_ / "ca.pem").string(), (rogue / "mallory.pem").string(),
       (rogue / "mallory.key").string()}));
  Status server_status, client_status;
  RunBoth(std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Accept(server_ctx, {});
            server_status = co_await conn->Handshake(ssl::stream_base::server,
                                                     Clock::now() + 5s);
            conn->Close();
          }),
          std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Dial(client_ctx, {});
            client_status = co_await conn->Handshake(ssl::stream_base::client,
                                                     Clock::now() + 5s);
            if (client_status.ok()) {  // TLS 1.3: rejection shows on first read
              auto e = co_await conn->Read(Clock::now() + 5s);
              client_status = e.status();
            }
          }));
  EXPECT_EQ(server_status.code(), StatusCode::kPermissionDenied)
      << server_status.ToString();
  EXPECT_FALSE(client_status.ok());
}

// One fedjets-client process hosting 3,000 virtual clients: its
// certificate grants every name (about 84 KB). The handshake completes;
// a server that sent TLS 1.3 session tickets failed it, since a ticket
// holds the client's certificate and is at most 64 KiB.
TEST_F(ConnectionTest,
       ACertificateGrantingThousandsOfNamesCompletesTheHandshake) {
  std::vector<std::string> names;
  for (int i = 0; i < 3000; ++i) names.push_back(ClientCertName(i));
  ASSERT_TRUE(GenerateClientCert(dir_, dir_, "node", names).ok());
  ASSERT_GT(std::filesystem::file_size(dir_ / "node.pem"), 100'000u);
  auto server_ctx = Must(MakeServerTlsContext(Files("coordinator")));
  auto client_ctx = Must(MakeClientTlsContext(Files("node")));
  Status server_status = Internal("not run"), client_status = server_status;
  RunBoth(std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Accept(server_ctx, {});
            server_status = co_await conn->Handshake(ssl::stream_base::server,
                                                     Clock::now() + 10s);
            conn->Close();
          }),
          std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Dial(client_ctx, {});
            client_status = co_await conn->Handshake(ssl::stream_base::client,
                                                     Clock::now() + 10s);
          }));
  EXPECT_TRUE(server_status.ok()) << server_status.ToString();
  EXPECT_TRUE(client_status.ok()) << client_status.ToString();
}

TEST_F(ConnectionTest, ClientRefusesServerWithWrongHostName) {
  auto server_ctx = Must(MakeServerTlsContext(Files("coordinator")));
  auto client_ctx = Must(MakeClientTlsContext(Files("client-0")));
  Status client_status;
  RunBoth(std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Accept(server_ctx, {});
            (void)co_await conn->Handshake(ssl::stream_base::server,
                                           Clock::now() + 5s);
          }),
          std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn =
                co_await Dial(client_ctx, {}, "coordinator.example.org");
            client_status = co_await conn->Handshake(ssl::stream_base::client,
                                                     Clock::now() + 5s);
          }));
  EXPECT_EQ(client_status.code(), StatusCode::kPermissionDenied)
      << client_status.ToString();
}

TEST_F(ConnectionTest, PlainClientCannotTalkToTlsServer) {
  auto server_ctx = Must(MakeServerTlsContext(Files("coordinator")));
  Status server_status;
  RunBoth(std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Accept(server_ctx, {});
            server_status = co_await conn->Handshake(ssl::stream_base::server,
                                                     Clock::now() + 5s);
          }),
          std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Dial(nullptr, {});
            proto::Envelope e = MakeEnvelope("", 0);
            e.mutable_hello()->set_client_name("plain");
            (void)co_await conn->Write(e, Clock::now() + 5s);
            asio::steady_timer t(io_, 500ms);
            co_await t.async_wait(asio::use_awaitable);
          }));
  EXPECT_FALSE(server_status.ok());
}

TEST_F(ConnectionTest, CancelledReadLeavesTheTlsConnectionWritable) {
  // A client leaving on a signal cancels its idle read, then says goodbye
  // on the same TLS connection.
  auto server_ctx = Must(MakeServerTlsContext(Files("coordinator")));
  auto client_ctx = Must(MakeClientTlsContext(Files("client-0")));
  Status cancelled_read, goodbye;
  std::string reason;
  const std::string run_id = "run";  // GCC 12 coroutines: no literal temps
  RunBoth(std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Accept(server_ctx, ConnectionLimits{});
            const auto deadline = Clock::now() + 10s;
            if (!(co_await conn->Handshake(ssl::stream_base::server, deadline))
                     .ok()) {
              co_return;
            }
            asio::steady_timer soon(io_, 200ms);
            soon.async_wait([&](boost::system::error_code) { conn->Cancel(); });
            cancelled_read = (co_await conn->Read(deadline)).status();
            proto::Envelope bye = MakeEnvelope(run_id, 0);
            bye.mutable_goodbye()->set_reason("leaving");
            (void)co_await conn->Write(bye, deadline);
            (void)co_await conn->Read(deadline);  // until the peer closes
          }),
          std::function<awaitable<void>()>([&]() -> awaitable<void> {
            auto conn = co_await Dial(client_ctx, ConnectionLimits{});
            const auto deadline = Clock::now() + 10s;
            if (!(co_await conn->Handshake(ssl::stream_base::client, deadline))
                     .ok()) {
              co_return;
            }
            auto e = co_await conn->Read(deadline);
            goodbye = e.status();
            if (e.ok()) reason = e->goodbye().reason();
            conn->Close();
          }));
  EXPECT_EQ(cancelled_read.code(), StatusCode::kUnavailable)
      << cancelled_read.ToString();
  ASSERT_TRUE(goodbye.ok()) << goodbye.ToString();
  EXPECT_EQ(reason, "leaving");
}

TEST(EnvelopeTest, StaleRoundAndForeignRunAreRejected) {
  proto::Envelope e = MakeEnvelope("run-a", 4);
  EXPECT_TRUE(CheckEnvelope(e, "run-a", 4).ok());
  Status stale = CheckEnvelope(e, "run-a", 5);
  EXPECT_NE(stale.message().find("stale or replayed message for round 4"),
            std::string::npos);
  Status foreign = CheckEnvelope(e, "run-b", 4);
  EXPECT_NE(foreign.message().find("run 'run-a' rejected"), std::string::npos);
}

TEST(EnvelopeTest, PeerErrorBecomesStatusWithItsText) {
  proto::Envelope e = MakeEnvelope("run-a", 1);
  e.mutable_error()->set_message("disk on fire");
  EXPECT_NE(CheckEnvelope(e, "run-a", 1).message().find("disk on fire"),
            std::string::npos);
}

TEST(LimitsTest, ChunkMustFitInFrame) {
  ConnectionLimits l;
  l.max_frame_bytes = 64 << 10;
  l.chunk_bytes = 64 << 10;
  EXPECT_EQ(ValidateLimits(l).code(), StatusCode::kInvalidArgument);
  l.chunk_bytes = 16 << 10;
  EXPECT_TRUE(ValidateLimits(l).ok());
}

}  // namespace
}  // namespace fedjets::common
