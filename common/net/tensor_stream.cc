// SendParameters and ReceiveParameters (declared in common/net/connection.h):
// a parameter list as a stream of TensorChunk frames whose data goes from
// the sender's tensor to the TLS stream and from the TLS stream into the
// receiver's tensor without passing through a serialized message
// (common/net/chunk_frame.h).
#include <fmt/format.h>

#include <algorithm>

#include "common/net/chunk_frame.h"
#include "common/net/connection.h"

namespace fedjets::common {
namespace {

// The most body bytes read before looking for a chunk's data: the envelope
// and chunk fields in front of it (run id, tensor name and shape) need a
// few hundred at most; a frame with more is parsed whole.
constexpr size_t kHeadBytes = 1024;

// Reads one chunk frame of `length` body bytes, whose first bytes are in
// `head`, whole, and adds its chunk to `assembler` (the path for a frame
// that is not laid out as SendParameters writes it).
asio::awaitable<Status> AddWholeFrame(Connection& conn, std::string_view head,
                                      uint32_t length,
                                      const std::string& run_id, int64_t round,
                                      TensorAssembler& assembler,
                                      Clock::time_point deadline) {
  std::string body(head);
  body.resize(length);
  FEDJETS_CO_RETURN_IF_ERROR(co_await conn.ReadFrameBody(
      asio::buffer(body.data() + head.size(), length - head.size()), length,
      head.size(), deadline));
  auto e = ParseEnvelope(body, conn.peer());
  if (!e.ok()) co_return e.status();
  FEDJETS_CO_RETURN_IF_ERROR(
      assembler.ChargeWireBytes(kFrameHeaderBytes + length));
  FEDJETS_CO_RETURN_IF_ERROR(CheckEnvelope(*e, run_id, round));
  if (!e->has_tensor_chunk()) {
    co_return InvalidArgument(
        fmt::format("expected a tensor chunk from {}, got message kind {}",
                    conn.peer(), static_cast<int>(e->body_case())));
  }
  co_return assembler.Add(e->tensor_chunk());
}

// Reads chunk frames into `assembler` until it holds every tensor; a frame
// longer than the assembler's byte budget is refused from its header. The
// envelope in front of a chunk's data is read and checked first; then the
// data is read straight into the tensor.
asio::awaitable<Result<ParameterList>> Assemble(Connection& conn,
                                                const std::string& run_id,
                                                int64_t round,
                                                TensorAssembler& assembler,
                                                Clock::time_point deadline) {
  std::string head;
  head.reserve(kHeadBytes);
  while (!assembler.complete()) {
    const uint64_t left = assembler.wire_bytes_left();
    auto length = co_await conn.ReadFrameHeader(
        deadline, left > kFrameHeaderBytes ? left - kFrameHeaderBytes : 0);
    if (!length.ok()) co_return length.status();
    head.resize(std::min<size_t>(*length, kHeadBytes));
    FEDJETS_CO_RETURN_IF_ERROR(
        co_await conn.ReadFrameBody(asio::buffer(head), *length, 0, deadline));
    std::optional<ChunkFrameHead> chunk = ParseChunkFrameHead(head, *length);
    if (!chunk) {
      FEDJETS_CO_RETURN_IF_ERROR(co_await AddWholeFrame(
          conn, head, *length, run_id, round, assembler, deadline));
      continue;
    }
    FEDJETS_CO_RETURN_IF_ERROR(
        assembler.ChargeWireBytes(kFrameHeaderBytes + *length));
    FEDJETS_CO_RETURN_IF_ERROR(CheckEnvelope(chunk->envelope, run_id, round));
    auto to =
        assembler.Place(chunk->envelope.tensor_chunk(), chunk->data_bytes);
    if (!to.ok()) co_return to.status();
    // The data bytes already read, then the rest from the stream.
    const size_t in_head = head.size() - chunk->data_offset;
    std::copy(head.begin() + static_cast<ptrdiff_t>(chunk->data_offset),
              head.end(), *to);
    FEDJETS_CO_RETURN_IF_ERROR(co_await conn.ReadFrameBody(
        asio::buffer(*to + in_head, chunk->data_bytes - in_head), *length,
        head.size(), deadline));
    assembler.Commit();
  }
  co_return assembler.Take();
}

}  // namespace

asio::awaitable<Status> SendParameters(Connection& conn,
                                       const std::string& run_id, int64_t round,
                                       const ParameterList& params,
                                       Clock::time_point deadline) {
  const size_t chunk_bytes = conn.limits().chunk_bytes;
  std::string prefix;
  for (size_t i = 0; i < params.size(); ++i) {
    const WireTensor& t = params[i];
    size_t offset = 0;
    do {
      const size_t n = std::min(chunk_bytes, t.bytes.size() - offset);
      FEDJETS_CO_RETURN_IF_ERROR(EncodeChunkFramePrefix(
          run_id, round, static_cast<int32_t>(i), t, offset, n,
          conn.limits().max_frame_bytes, prefix));
      FEDJETS_CO_RETURN_IF_ERROR(co_await conn.WriteBytes(
          asio::buffer(prefix), asio::buffer(t.bytes.data() + offset, n),
          deadline));
      offset += n;
    } while (offset < t.bytes.size());
  }
  co_return Status::Ok();
}

asio::awaitable<Result<ParameterList>> ReceiveParameters(
    Connection& conn, const std::string& run_id, int64_t round, int32_t count,
    Clock::time_point deadline, ParameterList reuse) {
  if (count < 0) co_return InvalidArgument("negative tensor count");
  TensorAssembler assembler(count, conn.limits().max_tensor_bytes);
  assembler.Reuse(std::move(reuse));
  co_return co_await Assemble(conn, run_id, round, assembler, deadline);
}

asio::awaitable<Result<ParameterList>> ReceiveParameters(
    Connection& conn, const std::string& run_id, int64_t round,
    const TensorSpecList& expected, Clock::time_point deadline,
    ParameterList reuse) {
  TensorAssembler assembler(expected, conn.limits().max_tensor_bytes);
  assembler.Reuse(std::move(reuse));
  co_return co_await Assemble(conn, run_id, round, assembler, deadline);
}

}  // namespace fedjets::common
