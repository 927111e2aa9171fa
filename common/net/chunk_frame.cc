#include "common/net/chunk_frame.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>

#include <algorithm>

#include "common/net/frame.h"

namespace fedjets::common {
namespace {

using google::protobuf::io::CodedOutputStream;

// Tags (field number << 3 | wire type 2, length-delimited), one byte each.
constexpr uint8_t kChunkTag = (13 << 3) | 2;  // Envelope.tensor_chunk
constexpr uint8_t kDataTag = (7 << 3) | 2;    // TensorChunk.data

// A cursor over bytes a peer sent; every step is bounds-checked.
struct Cursor {
  const uint8_t* at;
  const uint8_t* end;

  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at == end) return false;
      const uint8_t b = *at++;
      v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool Skip(uint64_t n) {
    if (n > static_cast<uint64_t>(end - at)) return false;
    at += n;
    return true;
  }
  // Skips the value of a field whose tag was just read.
  bool SkipValue(uint64_t tag) {
    uint64_t v = 0;
    switch (tag & 7) {
      case 0:
        return Varint(v);
      case 1:
        return Skip(8);
      case 2:
        return Varint(v) && Skip(v);
      case 5:
        return Skip(4);
      default:  // groups: never in fedjets.proto; the full parse decides
        return false;
    }
  }
  // Skips fields until the tag `want`; then `field` is where that tag
  // starts and `length` its value's length.
  bool FindLengthDelimited(uint8_t want, const uint8_t*& field,
                           uint64_t& length) {
    for (;;) {
      field = at;
      uint64_t tag = 0;
      if (!Varint(tag)) return false;
      if (tag == want) return Varint(length);
      if (!SkipValue(tag)) return false;
    }
  }
};

}  // namespace

Status EncodeChunkFramePrefix(const std::string& run_id, int64_t round,
                              int32_t index, const WireTensor& t, size_t offset,
                              size_t n, uint32_t max_frame_bytes,
                              std::string& out) {
  proto::Envelope envelope;
  envelope.set_run_id(run_id);
  envelope.set_round(round);
  const proto::TensorChunk meta = ChunkHeader(index, t, offset);
  const size_t envelope_bytes = envelope.ByteSizeLong();
  const size_t meta_bytes = meta.ByteSizeLong();
  // proto3 leaves an empty `data` out, as the serializer does.
  const uint64_t data_field =
      n == 0 ? 0 : 1 + CodedOutputStream::VarintSize64(n) + n;
  const uint64_t chunk_bytes = meta_bytes + data_field;
  const uint64_t body = envelope_bytes + 1 +
                        CodedOutputStream::VarintSize64(chunk_bytes) +
                        chunk_bytes;
  if (body > max_frame_bytes) {
    return InvalidArgument(
        fmt::format("refusing to send a frame of {} bytes: limit is {} bytes",
                    body, max_frame_bytes));
  }
  out.resize(kFrameHeaderBytes + body - n);
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  const FrameHeader header = EncodeFrameHeader(static_cast<uint32_t>(body));
  p = std::copy(header.begin(), header.end(), p);
  p = envelope.SerializeWithCachedSizesToArray(p);
  *p++ = kChunkTag;
  p = CodedOutputStream::WriteVarint64ToArray(chunk_bytes, p);
  p = meta.SerializeWithCachedSizesToArray(p);
  if (n > 0) {
    *p++ = kDataTag;
    CodedOutputStream::WriteVarint64ToArray(n, p);
  }
  return Status::Ok();
}

std::optional<ChunkFrameHead> ParseChunkFrameHead(std::string_view head,
                                                  uint64_t body_bytes) {
  const auto* begin = reinterpret_cast<const uint8_t*>(head.data());
  Cursor c{begin, begin + head.size()};
  const uint8_t* chunk_tag = nullptr;
  uint64_t chunk_length = 0;
  if (!c.FindLengthDelimited(kChunkTag, chunk_tag, chunk_length)) return {};
  const uint8_t* chunk = c.at;
  if (static_cast<uint64_t>(chunk - begin) + chunk_length != body_bytes) {
    return {};  // the chunk is not the envelope's last field
  }
  const uint8_t* data_tag = nullptr;
  uint64_t data_length = 0;
  if (!c.FindLengthDelimited(kDataTag, data_tag, data_length)) return {};
  const auto data_offset = static_cast<uint64_t>(c.at - begin);
  if (data_offset + data_length != body_bytes) return {};
  ChunkFrameHead out;
  if (!out.envelope.ParseFromArray(begin,
                                   static_cast<int>(chunk_tag - begin)) ||
      out.envelope.has_tensor_chunk()) {
    return {};  // a chunk split over two fields is merged by the full parse
  }
  proto::TensorChunk meta;
  if (!meta.ParseFromArray(chunk, static_cast<int>(data_tag - chunk)) ||
      !meta.data().empty()) {
    return {};
  }
  *out.envelope.mutable_tensor_chunk() = std::move(meta);
  out.data_offset = static_cast<size_t>(data_offset);
  out.data_bytes = data_length;
  return out;
}

}  // namespace fedjets::common
