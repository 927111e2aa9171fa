// End-to-end federation over real loopback sockets and real mutual TLS:
// a coordinator and clients in one process, on their own threads.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "client/client.h"
#include "client/local_data.h"
#include "common/net/certs.h"
#include "common/net/connection.h"
#include "coordinator/coordinator.h"
#include "tests/integration/loopback_federation.h"

namespace fedjets {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace asio = boost::asio;
using common::Clock;

using FederationTest = LoopbackFederationTest;

TEST_F(FederationTest, TwoFedAvgRoundsChangeTheModelAndBeatChance) {
  coordinator::Coordinator c(CoordinatorOpts(/*min_clients=*/3, /*rounds=*/2));
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  auto local = Shards({0, 1, 2}, 3);
  auto results = client::RunClients(ClientOpts(c.port(), "client-0"), local);
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  for (const auto& r : results) {
    EXPECT_TRUE(r.status.ok()) << r.name << ": " << r.status.ToString();
    EXPECT_EQ(r.rounds_trained, 2) << r.name;
  }
  const auto& s = c.summary();
  ASSERT_EQ(s.rounds.size(), 2u);
  EXPECT_EQ(s.rounds[1].clients_reported, 3);
  EXPECT_GT(s.rounds[1].bytes_sent, 0u);
  bool changed = false;
  for (size_t i = 0; i < s.initial_params.size(); ++i) {
    changed |= s.initial_params[i].bytes != s.final_params[i].bytes;
  }
  EXPECT_TRUE(changed) << "global model did not change";
  EXPECT_GT(s.final_accuracy, 0.3) << "chance is 0.1";
  EXPECT_TRUE(fs::exists(dir_ / "run" / "metrics.jsonl"));
  EXPECT_TRUE(fs::exists(dir_ / "run" / "model.pt"));
}

TEST_F(FederationTest, ClientWithForeignCertificateIsRefusedWhileRunGoesOn) {
  const fs::path rogue = dir_ / "rogue";
  ASSERT_TRUE(common::GenerateCa(rogue, "rogue CA").ok());
  ASSERT_TRUE(common::GenerateNodeCert(rogue, rogue, "mallory",
                                       common::CertRole::kClient, {"localhost"})
                  .ok());
  coordinator::Coordinator c(CoordinatorOpts(/*min_clients=*/2, /*rounds=*/1));
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });

  auto mallory_data = Shards({2}, 3);
  mallory_data[0].name = "mallory";
  auto mallory_opts = ClientOpts(c.port(), "client-0");
  mallory_opts.tls = {Files("client-0").ca, (rogue / "mallory.pem").string(),
                      (rogue / "mallory.key").string()};
  auto mallory = client::RunClients(mallory_opts, mallory_data);
  ASSERT_EQ(mallory.size(), 1u);
  EXPECT_FALSE(mallory[0].status.ok());

  auto good = Shards({0, 1}, 3);
  auto results = client::RunClients(ClientOpts(c.port(), "client-1"), good);
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  for (const auto& r : results) EXPECT_TRUE(r.status.ok()) << r.name;
  EXPECT_EQ(c.summary().rounds.size(), 1u);
  EXPECT_EQ(c.summary().rounds[0].clients_reported, 2);
  EXPECT_GE(c.summary().rejected_connections, 1);
  EXPECT_NE(log_.str().find("TLS handshake"), std::string::npos) << log_.str();
}

// Speaks raw frames to the coordinator, as a broken or hostile client would.
class RawPeer {
 public:
  RawPeer(uint16_t port, std::shared_ptr<asio::ssl::context> ctx)
      : stream_(io_, *ctx) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    stream_.next_layer().connect(ep);
    SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
    stream_.handshake(asio::ssl::stream_base::client);
  }
  void Send(const std::string& bytes) {
    asio::write(stream_, asio::buffer(bytes));
  }
  // Reads one Envelope, or returns false if the connection is closed.
  bool Receive(proto::Envelope& e) {
    common::FrameHeader h;
    boost::system::error_code ec;
    asio::read(stream_, asio::buffer(h), ec);
    if (ec) return false;
    std::string body(common::DecodeFrameHeader(h), '\0');
    asio::read(stream_, asio::buffer(body), ec);
    return !ec && e.ParseFromString(body);
  }

 private:
  asio::io_context io_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
};

TEST_F(FederationTest, OversizedFrameAndWrongVersionCloseOnlyThatConnection) {
  auto opts = CoordinatorOpts(/*min_clients=*/1, /*rounds=*/1);
  opts.limits.max_frame_bytes = 1 << 20;
  opts.limits.chunk_bytes = 256 << 10;
  coordinator::Coordinator c(opts);
  ASSERT_TRUE(c.Prepare().ok());
  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = c.Run(); });
  auto ctx = common::MakeClientTlsContext(Files("client-0"));
  ASSERT_TRUE(ctx.ok());
  {
    RawPeer peer(c.port(), *ctx);
    auto h = common::EncodeFrameHeader(64u << 20);  // over the 1 MiB limit
    peer.Send(std::string(h.begin(), h.end()));
    proto::Envelope reply;
    ASSERT_TRUE(peer.Receive(reply));
    ASSERT_TRUE(reply.has_error());
    EXPECT_NE(reply.error().message().find("exceeds the limit"),
              std::string::npos)
        << reply.error().message();
    EXPECT_FALSE(peer.Receive(reply)) << "connection should be closed";
  }
  {
    RawPeer peer(c.port(), *ctx);
    proto::Envelope hello;
    hello.mutable_hello()->set_protocol_version(common::kProtocolVersion + 1);
    hello.mutable_hello()->set_client_name("from-the-future");
    peer.Send(*common::EncodeFrame(hello.SerializeAsString(), 1 << 20));
    proto::Envelope reply;
    ASSERT_TRUE(peer.Receive(reply));
    EXPECT_EQ(reply.error().code(), proto::Error::CODE_VERSION_MISMATCH);
    EXPECT_NE(reply.error().message().find("protocol version"),
              std::string::npos);
  }
  auto good = Shards({0}, 3);
  auto client_opts = ClientOpts(c.port(), "client-0");
  client_opts.limits = opts.limits;
  auto results = client::RunClients(client_opts, good);
  coordinator_thread.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_EQ(c.summary().rejected_connections, 2);
  const std::string log = log_.str();
  EXPECT_NE(log.find("closing connection from"), std::string::npos) << log;
  EXPECT_NE(log.find("exceeds the limit"), std::string::npos) << log;
}

}  // namespace
}  // namespace fedjets
