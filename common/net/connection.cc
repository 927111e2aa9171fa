#include "common/net/connection.h"

#include <fmt/format.h>

#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

namespace fedjets::common {
namespace {

// Room for the envelope fields around a chunk's data.
constexpr uint32_t kEnvelopeOverheadBytes = 4096;

std::string Endpoint(const asio::ip::tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown peer";
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

}  // namespace

Status ValidateLimits(const ConnectionLimits& l) {
  if (l.max_frame_bytes <= kEnvelopeOverheadBytes) {
    return InvalidArgument(fmt::format("--max-frame-bytes must be more than {}",
                                       kEnvelopeOverheadBytes));
  }
  if (l.chunk_bytes == 0 ||
      l.chunk_bytes > l.max_frame_bytes - kEnvelopeOverheadBytes) {
    return InvalidArgument(fmt::format(
        "--chunk-bytes ({}) must be positive and at most --max-frame-bytes "
        "minus {} ({})",
        l.chunk_bytes, kEnvelopeOverheadBytes,
        l.max_frame_bytes - kEnvelopeOverheadBytes));
  }
  if (l.max_tensor_bytes == 0) {
    return InvalidArgument("--max-tensor-bytes must be positive");
  }
  return Status::Ok();
}

Connection::Connection(TcpSocket socket, ConnectionLimits limits)
    : stream_(std::move(socket)),
      limits_(limits),
      peer_(Endpoint(std::get<TcpSocket>(stream_))),
      watchdog_(std::get<TcpSocket>(stream_).get_executor()) {}

Connection::Connection(TlsStream stream, ConnectionLimits limits)
    : stream_(std::move(stream)),
      limits_(limits),
      peer_(Endpoint(std::get<TlsStream>(stream_).next_layer())),
      watchdog_(std::get<TlsStream>(stream_).get_executor()) {}

Connection::TcpSocket& Connection::socket() {
  if (auto* tls = std::get_if<TlsStream>(&stream_)) return tls->next_layer();
  return std::get<TcpSocket>(stream_);
}

SSL* Connection::tls_session() {
  auto* tls = std::get_if<TlsStream>(&stream_);
  return tls != nullptr ? tls->native_handle() : nullptr;
}

void Connection::ArmWatchdog(Clock::time_point deadline) {
  const uint64_t generation = ++op_generation_;
  timed_out_ = false;
  frame_timeout_armed_ = false;
  if (frame_timeout_ > Clock::duration::zero()) {
    const Clock::time_point now = Clock::now();
    if (deadline - now > frame_timeout_) {
      deadline = now + frame_timeout_;
      frame_timeout_armed_ = true;
    }
  }
  watchdog_.expires_at(deadline);
  // The handler may run after this operation finished (it was already
  // queued) or after the Connection is gone (then ec is operation_aborted);
  // the generation check keeps it from cancelling a later operation.
  watchdog_.async_wait([this, generation](boost::system::error_code ec) {
    if (ec || generation != op_generation_) return;
    timed_out_ = true;
    boost::system::error_code ignored;
    socket().cancel(ignored);
  });
}

std::string Connection::TimeoutCause() const {
  if (!frame_timeout_armed_) return "deadline passed";
  return fmt::format("no progress for {:g} s (frame timeout)",
                     std::chrono::duration<double>(frame_timeout_).count());
}

bool Connection::DisarmWatchdog() {
  ++op_generation_;
  watchdog_.cancel();
  return timed_out_;
}

void Connection::CountSent(uint64_t n) {
  bytes_sent_ += n;
  if (observer_ != nullptr) observer_->OnBytesSent(n);
}

void Connection::CountReceived(uint64_t n) {
  bytes_received_ += n;
  if (observer_ != nullptr) observer_->OnBytesReceived(n);
}

void Connection::Cancel() {
  boost::system::error_code ignored;
  socket().cancel(ignored);
}

void Connection::Close() {
  DisarmWatchdog();
  boost::system::error_code ignored;
  socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
}

asio::awaitable<Status> Connection::Handshake(
    asio::ssl::stream_base::handshake_type type, Clock::time_point deadline) {
  auto* tls = std::get_if<TlsStream>(&stream_);
  if (tls == nullptr) co_return Status::Ok();
  ArmWatchdog(deadline);
  auto [ec] = co_await tls->async_handshake(type, kTuple);
  if (DisarmWatchdog()) {
    co_return DeadlineExceeded(fmt::format(
        "TLS handshake with {} timed out: {}", peer_, TimeoutCause()));
  }
  if (ec) {
    // A connection that broke (reset, closed) is not a refusal: the peer
    // may be restarting, and a client may try again.
    const std::string what =
        fmt::format("TLS handshake with {} failed: {}", peer_, ec.message());
    if (ec.category() != asio::error::get_ssl_category()) {
      co_return Unavailable(what);
    }
    co_return PermissionDenied(what);
  }
  co_return Status::Ok();
}

asio::awaitable<Status> Connection::Write(const proto::Envelope& envelope,
                                          Clock::time_point deadline) {
  auto frame =
      EncodeFrame(envelope.SerializeAsString(), limits_.max_frame_bytes);
  if (!frame.ok()) co_return frame.status();
  ArmWatchdog(deadline);
  auto [ec, n] = co_await std::visit(
      [&](auto& s) {
        return asio::async_write(s, asio::buffer(*frame), kTuple);
      },
      stream_);
  if (DisarmWatchdog()) {
    co_return DeadlineExceeded(
        fmt::format("write to {} timed out: {}", peer_, TimeoutCause()));
  }
  if (ec) {
    co_return Unavailable(
        fmt::format("write to {} failed: {}", peer_, ec.message()));
  }
  CountSent(n);
  co_return Status::Ok();
}

asio::awaitable<Result<proto::Envelope>> Connection::Read(
    Clock::time_point deadline, uint64_t max_body_bytes) {
  auto read = [&](asio::mutable_buffer buf) {
    return std::visit([&](auto& s) { return asio::async_read(s, buf, kTuple); },
                      stream_);
  };
  FrameHeader header;
  ArmWatchdog(deadline);
  auto [ec, n] = co_await read(asio::buffer(header));
  bool timed_out = DisarmWatchdog();
  CountReceived(n);
  if (timed_out) {
    co_return DeadlineExceeded(fmt::format(
        "timed out waiting for a frame from {}: {}", peer_, TimeoutCause()));
  }
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    if (n == 0) {
      co_return Unavailable(fmt::format("{} closed the connection", peer_));
    }
    co_return DataLoss(
        fmt::format("truncated frame header from {}: got {} of {} bytes", peer_,
                    n, kFrameHeaderBytes));
  }
  if (ec) {
    co_return Unavailable(
        fmt::format("read from {} failed: {}", peer_, ec.message()));
  }
  const uint32_t length = DecodeFrameHeader(header);
  if (Status st = CheckFrameLength(length, limits_.max_frame_bytes); !st.ok()) {
    co_return st.Annotate(fmt::format("from {}", peer_));
  }
  if (length > max_body_bytes) {
    co_return ResourceExhausted(fmt::format(
        "frame of {} bytes from {} refused unread: this message may take at "
        "most {} more bytes",
        length, peer_, max_body_bytes));
  }
  std::string body(length, '\0');
  ArmWatchdog(deadline);
  auto [ec2, got] = co_await read(asio::buffer(body));
  timed_out = DisarmWatchdog();
  CountReceived(got);
  if (timed_out) {
    co_return DeadlineExceeded(
        fmt::format("frame from {} stalled at {} of {} body bytes: {}", peer_,
                    got, length, TimeoutCause()));
  }
  if (ec2) {
    std::string why = ec2.message();
    co_return DataLoss(
        fmt::format("truncated frame from {}: got {} of {} body bytes ({})",
                    peer_, got, length, why));
  }
  proto::Envelope envelope;
  if (!envelope.ParseFromString(body)) {
    co_return InvalidArgument(fmt::format(
        "frame of {} bytes from {} is not a valid Envelope", length, peer_));
  }
  co_return envelope;
}

proto::Envelope MakeEnvelope(const std::string& run_id, int64_t round) {
  proto::Envelope e;
  e.set_run_id(run_id);
  e.set_round(round);
  return e;
}

Status CheckEnvelope(const proto::Envelope& e, const std::string& run_id,
                     int64_t round) {
  if (e.has_error()) {
    return FailedPrecondition(
        fmt::format("peer reported an error: {}", e.error().message()));
  }
  if (e.run_id() != run_id) {
    return FailedPrecondition(fmt::format(
        "message for run '{}' rejected: this is run '{}'", e.run_id(), run_id));
  }
  if (e.round() != round) {
    return FailedPrecondition(fmt::format(
        "stale or replayed message for round {} rejected: current round is "
        "{}",
        e.round(), round));
  }
  return Status::Ok();
}

asio::awaitable<Status> SendParameters(Connection& conn,
                                       const std::string& run_id, int64_t round,
                                       const ParameterList& params,
                                       Clock::time_point deadline) {
  for (size_t i = 0; i < params.size(); ++i) {
    for (proto::TensorChunk& chunk : ChunkTensor(
             static_cast<int32_t>(i), params[i], conn.limits().chunk_bytes)) {
      proto::Envelope e = MakeEnvelope(run_id, round);
      *e.mutable_tensor_chunk() = std::move(chunk);
      FEDJETS_CO_RETURN_IF_ERROR(co_await conn.Write(e, deadline));
    }
  }
  co_return Status::Ok();
}

namespace {

// Reads chunk frames into `assembler` until it holds every tensor; a frame
// longer than the assembler's byte budget is refused from its header.
asio::awaitable<Result<ParameterList>> Assemble(Connection& conn,
                                                const std::string& run_id,
                                                int64_t round,
                                                TensorAssembler& assembler,
                                                Clock::time_point deadline) {
  while (!assembler.complete()) {
    const uint64_t left = assembler.wire_bytes_left();
    const uint64_t before = conn.bytes_received();
    auto e = co_await conn.Read(
        deadline, left > kFrameHeaderBytes ? left - kFrameHeaderBytes : 0);
    if (!e.ok()) co_return e.status();
    FEDJETS_CO_RETURN_IF_ERROR(
        assembler.ChargeWireBytes(conn.bytes_received() - before));
    FEDJETS_CO_RETURN_IF_ERROR(CheckEnvelope(*e, run_id, round));
    if (!e->has_tensor_chunk()) {
      co_return InvalidArgument(
          fmt::format("expected a tensor chunk from {}, got message kind {}",
                      conn.peer(), static_cast<int>(e->body_case())));
    }
    FEDJETS_CO_RETURN_IF_ERROR(assembler.Add(e->tensor_chunk()));
  }
  co_return assembler.Take();
}

}  // namespace

asio::awaitable<Result<ParameterList>> ReceiveParameters(
    Connection& conn, const std::string& run_id, int64_t round, int32_t count,
    Clock::time_point deadline) {
  if (count < 0) co_return InvalidArgument("negative tensor count");
  TensorAssembler assembler(count, conn.limits().max_tensor_bytes);
  co_return co_await Assemble(conn, run_id, round, assembler, deadline);
}

asio::awaitable<Result<ParameterList>> ReceiveParameters(
    Connection& conn, const std::string& run_id, int64_t round,
    const TensorSpecList& expected, Clock::time_point deadline) {
  TensorAssembler assembler(expected, conn.limits().max_tensor_bytes);
  co_return co_await Assemble(conn, run_id, round, assembler, deadline);
}

asio::awaitable<void> SendErrorAndClose(Connection& conn,
                                        const std::string& run_id,
                                        int64_t round, proto::Error::Code code,
                                        const std::string& message) {
  proto::Envelope e = MakeEnvelope(run_id, round);
  e.mutable_error()->set_code(code);
  e.mutable_error()->set_message(message);
  (void)co_await conn.Write(e, Clock::now() + std::chrono::seconds(2));
  conn.Close();
}

}  // namespace fedjets::common
