// The fixture that transport tests share: a fresh CA, coordinator and
// client-0 certificates in a temporary folder (removed afterwards), and a
// listening loopback acceptor on a free port, on one io_context.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>

#include "common/net/certs.h"
#include "common/net/tls.h"

namespace fedjets::common {

class LoopbackTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fedjets-net-" + std::to_string(std::random_device{}()));
    ASSERT_TRUE(
        GenerateRunCertificates(dir_, 1, {"localhost", "127.0.0.1"}).ok());
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The certificate files of `node` ("coordinator", "client-0").
  TlsFiles Files(const std::string& node) const {
    return {(dir_ / "ca.pem").string(), (dir_ / (node + ".pem")).string(),
            (dir_ / (node + ".key")).string()};
  }

  // Runs the two coroutines on io_ until both are done, or for at most a
  // minute (a test that hangs then fails on its unset results).
  template <typename Server, typename Client>
  void RunBoth(Server server, Client client) {
    asio::co_spawn(io_, server(), asio::detached);
    asio::co_spawn(io_, client(), asio::detached);
    io_.run_for(std::chrono::seconds(60));
  }

  std::filesystem::path dir_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
};

}  // namespace fedjets::common
