#include "common/net/connection.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
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

// A TLS error (an alert: a refused certificate, which under TLS 1.3 a
// client first reads after its handshake) is a refusal; any other (reset,
// closed) is a loss: the peer may be restarting, and a client may try again.
// So is an internal_error alert: the peer failed, not our certificate (a
// coordinator out of memory; before it sent no session tickets, every
// handshake of a client with a 70 KB certificate).
Status LossOrRefusal(const boost::system::error_code& ec, std::string what) {
  if (ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) !=
          SSL_R_TLSV1_ALERT_INTERNAL_ERROR) {
    return PermissionDenied(std::move(what));
  }
  return Unavailable(std::move(what));
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

awaitable<TlsStream::Result> Connection::ReadExactly(
    asio::mutable_buffer buffer) {
  if (auto* tls = std::get_if<TlsStream>(&stream_)) {
    co_return co_await tls->Read(buffer);
  }
  auto [ec, n] =
      co_await asio::async_read(std::get<TcpSocket>(stream_), buffer, kTuple);
  co_return TlsStream::Result{ec, n};
}

awaitable<TlsStream::Result> Connection::WriteAll(
    std::span<const asio::const_buffer> buffers) {
  if (auto* tls = std::get_if<TlsStream>(&stream_)) {
    co_return co_await tls->Write(buffers);
  }
  auto [ec, n] =
      co_await asio::async_write(std::get<TcpSocket>(stream_), buffers, kTuple);
  co_return TlsStream::Result{ec, n};
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
  const boost::system::error_code ec = co_await tls->Handshake(type);
  if (DisarmWatchdog()) {
    co_return DeadlineExceeded(fmt::format(
        "TLS handshake with {} timed out: {}", peer_, TimeoutCause()));
  }
  if (ec) {
    co_return LossOrRefusal(ec, fmt::format("TLS handshake with {} failed: {}",
                                            peer_, ec.message()));
  }
  co_return Status::Ok();
}

asio::awaitable<Status> Connection::Write(const proto::Envelope& envelope,
                                          Clock::time_point deadline) {
  auto frame =
      EncodeFrame(envelope.SerializeAsString(), limits_.max_frame_bytes);
  if (!frame.ok()) co_return frame.status();
  co_return co_await WriteBytes(asio::buffer(*frame), {}, deadline);
}

asio::awaitable<Status> Connection::WriteBytes(asio::const_buffer first,
                                               asio::const_buffer second,
                                               Clock::time_point deadline) {
  const std::array<asio::const_buffer, 2> buffers{first, second};
  ArmWatchdog(deadline);
  auto [ec, n] = co_await WriteAll(buffers);
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

asio::awaitable<Result<uint32_t>> Connection::ReadFrameHeader(
    Clock::time_point deadline, uint64_t max_body_bytes) {
  FrameHeader header;
  ArmWatchdog(deadline);
  auto [ec, n] = co_await ReadExactly(asio::buffer(header));
  const bool timed_out = DisarmWatchdog();
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
    co_return LossOrRefusal(
        ec, fmt::format("read from {} failed: {}", peer_, ec.message()));
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
  co_return length;
}

asio::awaitable<Status> Connection::ReadFrameBody(asio::mutable_buffer part,
                                                  uint32_t length,
                                                  uint64_t offset,
                                                  Clock::time_point deadline) {
  ArmWatchdog(deadline);
  auto [ec, got] = co_await ReadExactly(part);
  const bool timed_out = DisarmWatchdog();
  CountReceived(got);
  if (timed_out) {
    co_return DeadlineExceeded(
        fmt::format("frame from {} stalled at {} of {} body bytes: {}", peer_,
                    offset + got, length, TimeoutCause()));
  }
  if (ec) {
    co_return DataLoss(
        fmt::format("truncated frame from {}: got {} of {} body bytes ({})",
                    peer_, offset + got, length, ec.message()));
  }
  co_return Status::Ok();
}

asio::awaitable<Result<proto::Envelope>> Connection::Read(
    Clock::time_point deadline, uint64_t max_body_bytes) {
  auto length = co_await ReadFrameHeader(deadline, max_body_bytes);
  if (!length.ok()) co_return length.status();
  std::string body(*length, '\0');
  FEDJETS_CO_RETURN_IF_ERROR(
      co_await ReadFrameBody(asio::buffer(body), *length, 0, deadline));
  co_return ParseEnvelope(body, peer_);
}

Result<proto::Envelope> ParseEnvelope(std::string_view body,
                                      const std::string& from) {
  proto::Envelope envelope;
  if (!envelope.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return InvalidArgument(
        fmt::format("frame of {} bytes from {} is not a valid Envelope",
                    body.size(), from));
  }
  return envelope;
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
