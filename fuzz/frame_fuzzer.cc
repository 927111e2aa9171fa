// Fuzzes the frame reader: the input is the byte stream a peer sends.
// Connection::Read (the real one) reads frames from it until it fails, and
// every envelope it returns goes through CheckEnvelope. The stream is an
// AF_UNIX socket pair adopted by the TCP socket type Connection takes: a
// byte stream like TCP, without a port or a TIME_WAIT per input.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "common/net/connection.h"
#include "fuzz/fuzz_input.h"

namespace fedjets::fuzz {
namespace {

using common::Connection;

// Small limits keep an input that declares a large frame cheap to run; the
// checks are the same at any limit.
constexpr uint32_t kMaxFrameBytes = 64 << 10;
// An input up to this size fits in the socket buffer, so it can be written
// whole before reading starts.
constexpr size_t kMaxInputBytes = 48 << 10;
constexpr int kMaxFrames = 64;

void DieOn(bool failed, const char* what) {
  if (!failed) return;
  std::perror(what);
  std::abort();
}

asio::awaitable<void> ReadAll(Connection& conn) {
  const auto deadline = common::Clock::now() + std::chrono::seconds(10);
  for (int i = 0; i < kMaxFrames; ++i) {
    auto envelope = co_await conn.Read(deadline);
    if (!envelope.ok()) break;
    (void)common::CheckEnvelope(*envelope, "fuzz-run", 1);
  }
}

}  // namespace
}  // namespace fedjets::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedjets::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedjets;
  if (size > fuzz::kMaxInputBytes) return 0;
  int fds[2];
  fuzz::DieOn(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0, "socketpair");
  for (size_t done = 0; done < size;) {
    const ssize_t n = write(fds[1], data + done, size - done);
    fuzz::DieOn(n <= 0, "write to socketpair");
    done += static_cast<size_t>(n);
  }
  close(fds[1]);  // the peer is done: the reader sees end of stream

  static asio::io_context io;
  io.restart();
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.assign(tcp::v4(), fds[0], ec);
  fuzz::DieOn(ec.failed(), "assign socket");
  common::ConnectionLimits limits;
  limits.max_frame_bytes = fuzz::kMaxFrameBytes;
  limits.chunk_bytes = fuzz::kMaxFrameBytes / 2;
  common::Connection conn(std::move(socket), limits);
  // An exception escaping the reader is a finding: rethrown, it aborts.
  asio::co_spawn(io, fuzz::ReadAll(conn), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  return 0;
}
