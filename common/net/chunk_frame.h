// The frames that carry tensor bytes, written and read without copying the
// bytes through a serialized message. A TensorChunk frame is
//   [4-byte length][Envelope.run_id, .round][tag and length of
//   Envelope.tensor_chunk][TensorChunk fields 1-6][tag and length of
//   TensorChunk.data][the data bytes]
// because protobuf writes fields in field-number order and `data` (7) is
// TensorChunk's last field and `tensor_chunk` (13) the only body field set.
// So a sender writes a small prefix and then the tensor's own bytes, and a
// receiver that has read the prefix knows where the data goes before it
// reads it. The bytes on the wire are exactly what serializing the
// Envelope would give (docs/PROTOCOL.md is unchanged). Pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/base/status.h"
#include "common/net/tensor_codec.h"
#include "proto/fedjets.pb.h"

namespace fedjets::common {

// Frame header, envelope and chunk fields of the frame carrying bytes
// [offset, offset + n) of tensor `index` (`t`), written into `out` (its
// storage is reused). The frame is `out` followed by those n bytes, byte
// for byte the frame of the matching ChunkTensor chunk's envelope. Fails
// if the frame would exceed max_frame_bytes.
Status EncodeChunkFramePrefix(const std::string& run_id, int64_t round,
                              int32_t index, const WireTensor& t, size_t offset,
                              size_t n, uint32_t max_frame_bytes,
                              std::string& out);

// A TensorChunk frame body whose data has not been read yet.
struct ChunkFrameHead {
  proto::Envelope envelope;  // its tensor_chunk has no data
  size_t data_offset = 0;    // where the data starts in the body
  uint64_t data_bytes = 0;   // the data runs to the end of the body
};

// Reads the start `head` of a frame body of `body_bytes` bytes. Returns the
// envelope and where its chunk data lies when the body is an Envelope
// whose last field is a tensor_chunk whose last field is its data, and
// everything before the data is in `head` and parses; nullopt otherwise
// (the caller then reads and parses the whole body, which gives the
// precise error for a bad one). Where it returns a value, that envelope
// plus the data is what parsing the whole body gives.
std::optional<ChunkFrameHead> ParseChunkFrameHead(std::string_view head,
                                                  uint64_t body_bytes);

}  // namespace fedjets::common
