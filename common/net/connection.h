// Connection: one framed, deadline-bounded message stream to a peer, over
// TLS (the default) or plain TCP (only with --insecure).
//
// Every read and write takes an absolute deadline; when it passes, the
// socket's pending operation is cancelled and the call returns
// DEADLINE_EXCEEDED. With a frame timeout set, each read or write must
// also finish within that long of its start: a peer that sends (or reads)
// nothing for that long is cut off well before a distant deadline. Frame
// lengths are checked against ConnectionLimits::max_frame_bytes before the body
// buffer is allocated.
//
// Thread-safety: a Connection is used from one coroutine at a time on one
// single-threaded executor; it is not safe for concurrent reads or writes.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

#include "common/base/status.h"
#include "common/net/asio_coro.h"
#include "common/net/frame.h"
#include "common/net/tensor_codec.h"
#include "common/net/tls_stream.h"
#include "common/net/traffic_observer.h"
#include "proto/fedjets.pb.h"

namespace fedjets::common {

using Clock = std::chrono::steady_clock;

// The protocol version this build speaks, as proto/fedjets.proto declares
// it (ProtocolVersion.PROTOCOL_VERSION_CURRENT); a peer with another version
// is refused.
inline constexpr uint32_t kProtocolVersion = proto::PROTOCOL_VERSION_CURRENT;

struct ConnectionLimits {
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  // Largest single tensor a peer may declare.
  uint64_t max_tensor_bytes = uint64_t{4} << 30;
  // Data bytes per TensorChunk; must leave room for the envelope in a frame.
  uint32_t chunk_bytes = 1u << 20;
};

// Checks that chunks fit in frames and limits are positive.
Status ValidateLimits(const ConnectionLimits& limits);

class Connection {
 public:
  using TcpSocket = asio::ip::tcp::socket;
  using TlsStream = common::TlsStream;

  Connection(TcpSocket socket, ConnectionLimits limits);
  Connection(TlsStream stream, ConnectionLimits limits);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool is_tls() const { return std::holds_alternative<TlsStream>(stream_); }
  // "ip:port" of the remote end, captured at construction.
  const std::string& peer() const { return peer_; }
  const ConnectionLimits& limits() const { return limits_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }
  // Also tells `observer` of every byte counted above; it must outlive
  // this Connection (nullptr: nobody).
  void set_traffic_observer(TrafficObserver* observer) { observer_ = observer; }

  // The TLS session, to read the peer's certificate after Handshake; null
  // on plain TCP.
  SSL* tls_session();
  // TLS handshake; a no-op on plain TCP.
  asio::awaitable<Status> Handshake(asio::ssl::stream_base::handshake_type t,
                                    Clock::time_point deadline);
  asio::awaitable<Status> Write(const proto::Envelope& envelope,
                                Clock::time_point deadline);
  // Reads one frame. Oversized, empty, truncated or unparsable frames give
  // a non-OK status naming the problem; the caller should then close.
  // A body over `max_body_bytes` (a budget smaller than the frame limit)
  // is refused from the header, before any of it is read, with
  // RESOURCE_EXHAUSTED.
  asio::awaitable<Result<proto::Envelope>> Read(
      Clock::time_point deadline,
      uint64_t max_body_bytes = std::numeric_limits<uint64_t>::max());

  // The pieces of Read and Write, for a caller that puts a frame's bytes
  // where they belong itself (SendParameters, ReceiveParameters): a frame
  // header, checked as Read checks it, giving the body's length;
  asio::awaitable<Result<uint32_t>> ReadFrameHeader(Clock::time_point deadline,
                                                    uint64_t max_body_bytes);
  // exactly `part.size()` bytes of a body of `length` bytes, `offset` bytes
  // into it (for the error message);
  asio::awaitable<Status> ReadFrameBody(asio::mutable_buffer part,
                                        uint32_t length, uint64_t offset,
                                        Clock::time_point deadline);
  // the bytes of one or more whole frames, written in order.
  asio::awaitable<Status> WriteBytes(asio::const_buffer first,
                                     asio::const_buffer second,
                                     Clock::time_point deadline);
  // Bounds every later Handshake, Read and Write to `timeout` from its
  // start as well as by its deadline; zero (the default) turns it off.
  void set_frame_timeout(Clock::duration timeout) { frame_timeout_ = timeout; }
  // Cancels the pending read or write, which then fails (UNAVAILABLE,
  // "Operation canceled"); the connection stays open, e.g. for a last
  // message before Close. A read cancelled part-way through a frame leaves
  // the stream unusable for further reads.
  void Cancel();
  // Closes the socket at once; pending operations fail.
  void Close();

 private:
  TcpSocket& socket();
  // The stream's read and write of exactly the bytes given, TLS or not.
  awaitable<TlsStream::Result> ReadExactly(asio::mutable_buffer buffer);
  awaitable<TlsStream::Result> WriteAll(
      std::span<const asio::const_buffer> buffers);
  // Arms the deadline watchdog for one operation: `deadline`, or sooner
  // the frame timeout.
  void ArmWatchdog(Clock::time_point deadline);
  // What a timed-out operation ran into, for its error message.
  std::string TimeoutCause() const;
  // Disarms it; returns true if it fired for the current operation.
  bool DisarmWatchdog();
  void CountSent(uint64_t n);
  void CountReceived(uint64_t n);

  std::variant<TcpSocket, TlsStream> stream_;
  ConnectionLimits limits_;
  std::string peer_;
  asio::steady_timer watchdog_;
  uint64_t op_generation_ = 0;
  bool timed_out_ = false;
  Clock::duration frame_timeout_{};
  bool frame_timeout_armed_ = false;  // the frame timeout came first
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  TrafficObserver* observer_ = nullptr;
};

// An envelope stamped with the run id and round.
proto::Envelope MakeEnvelope(const std::string& run_id, int64_t round);

// Rejects an envelope from another run or round (stale or replayed), and
// turns a peer's Error message into a status carrying its text.
Status CheckEnvelope(const proto::Envelope& e, const std::string& run_id,
                     int64_t round);

// Parses a frame body of `from`; the error names the peer.
Result<proto::Envelope> ParseEnvelope(std::string_view body,
                                      const std::string& from);

// Tensor streams (common/net/tensor_stream.cc).
// Streams `params` as ordered TensorChunk envelopes, each tensor's bytes
// written to the stream from where they lie (common/net/chunk_frame.h).
asio::awaitable<Status> SendParameters(Connection& conn,
                                       const std::string& run_id, int64_t round,
                                       const ParameterList& params,
                                       Clock::time_point deadline);

// Receives `count` tensors streamed by SendParameters. Chunk data is read
// from the stream straight into the tensor it belongs to; buffers live for
// the call, none per chunk. The tensors take over the storage of `reuse`
// (TensorAssembler::Reuse): pass the last list received or sent to touch
// no fresh memory.
asio::awaitable<Result<ParameterList>> ReceiveParameters(
    Connection& conn, const std::string& run_id, int64_t round, int32_t count,
    Clock::time_point deadline, ParameterList reuse = {});

// Receives exactly the tensors of `expected` from an untrusted peer, checked
// chunk by chunk as they arrive (TensorAssembler): a wrong name, dtype or
// shape is refused on the tensor's first chunk (INVALID_ARGUMENT), and a
// frame that would take the stream past StreamByteCap(expected) is refused
// from its header, before its body is read (RESOURCE_EXHAUSTED).
asio::awaitable<Result<ParameterList>> ReceiveParameters(
    Connection& conn, const std::string& run_id, int64_t round,
    const TensorSpecList& expected, Clock::time_point deadline,
    ParameterList reuse = {});

// Best effort: sends an Error envelope (bounded by a short deadline), then
// closes the connection.
asio::awaitable<void> SendErrorAndClose(Connection& conn,
                                        const std::string& run_id,
                                        int64_t round, proto::Error::Code code,
                                        const std::string& message);

}  // namespace fedjets::common
