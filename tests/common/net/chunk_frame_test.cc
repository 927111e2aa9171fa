#include "common/net/chunk_frame.h"

#include <gtest/gtest.h>

#include <random>

#include "common/net/frame.h"

namespace fedjets::common {
namespace {

WireTensor Bytes(const std::string& name, int64_t n) {
  WireTensor t{name, proto::DTYPE_UINT8, {n}, {}};
  for (int64_t i = 0; i < n; ++i) t.bytes.push_back(static_cast<char>(i * 13));
  return t;
}

// The frame SendParameters used to write for `chunk`: the envelope
// serialized whole.
std::string SerializedFrame(const proto::TensorChunk& chunk) {
  proto::Envelope e;
  e.set_run_id("run-7");
  e.set_round(42);
  *e.mutable_tensor_chunk() = chunk;
  return *EncodeFrame(e.SerializeAsString(), kDefaultMaxFrameBytes);
}

std::string PrefixedFrame(const WireTensor& t, int32_t index, size_t offset,
                          size_t n) {
  std::string prefix;
  Status st = EncodeChunkFramePrefix("run-7", 42, index, t, offset, n,
                                     kDefaultMaxFrameBytes, prefix);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return prefix + t.bytes.substr(offset, n);
}

TEST(ChunkFrameTest, PrefixAndDataAreTheSerializedEnvelopeByteForByte) {
  for (const WireTensor& t : {Bytes("layer.weight", 1000), Bytes("b", 1),
                              Bytes("empty", 0), Bytes("big", 70000)}) {
    size_t offset = 0;
    for (const proto::TensorChunk& c : ChunkTensor(3, t, 300)) {
      EXPECT_EQ(PrefixedFrame(t, 3, offset, c.data().size()),
                SerializedFrame(c))
          << t.name << " at " << offset;
      offset += c.data().size();
    }
  }
}

TEST(ChunkFrameTest, HeadGivesTheEnvelopeAndWhereItsDataLies) {
  const WireTensor t = Bytes("w", 5000);
  const proto::TensorChunk chunk = ChunkTensor(0, t, 4096).front();
  const std::string body = SerializedFrame(chunk).substr(kFrameHeaderBytes);
  for (size_t head_bytes : {size_t{40}, size_t{100}, body.size()}) {
    auto head = ParseChunkFrameHead(body.substr(0, head_bytes), body.size());
    ASSERT_TRUE(head.has_value()) << head_bytes;
    EXPECT_EQ(head->envelope.run_id(), "run-7");
    EXPECT_EQ(head->envelope.round(), 42);
    EXPECT_EQ(head->envelope.tensor_chunk().name(), "w");
    EXPECT_EQ(head->envelope.tensor_chunk().total_bytes(), 5000u);
    EXPECT_TRUE(head->envelope.tensor_chunk().data().empty());
    EXPECT_EQ(head->data_bytes, 4096u);
    EXPECT_EQ(body.substr(head->data_offset), chunk.data());
  }
}

TEST(ChunkFrameTest, HeadCutBeforeTheDataIsLeftToTheFullParse) {
  const std::string body =
      SerializedFrame(ChunkTensor(0, Bytes("w", 100), 100).front())
          .substr(kFrameHeaderBytes);
  EXPECT_FALSE(ParseChunkFrameHead(body.substr(0, 10), body.size()));
}

TEST(ChunkFrameTest, FramesNotLaidOutAsSentAreLeftToTheFullParse) {
  const proto::TensorChunk chunk = ChunkTensor(0, Bytes("w", 100), 100)[0];
  const std::string body = SerializedFrame(chunk).substr(kFrameHeaderBytes);
  // A field after the chunk, or after the data inside it.
  const std::string trailing_envelope_field = body + std::string("\x10\x01", 2);
  EXPECT_FALSE(ParseChunkFrameHead(trailing_envelope_field,
                                   trailing_envelope_field.size()));
  EXPECT_FALSE(ParseChunkFrameHead(body, body.size() + 1));
  // Another message kind.
  proto::Envelope hello;
  hello.set_run_id("run-7");
  hello.mutable_hello()->set_client_name("c");
  const std::string other = hello.SerializeAsString();
  EXPECT_FALSE(ParseChunkFrameHead(other, other.size()));
  // A chunk sent in two pieces, which protobuf merges.
  proto::Envelope first;
  first.mutable_tensor_chunk()->set_name("w");
  const std::string split = first.SerializeAsString() + body;
  EXPECT_FALSE(ParseChunkFrameHead(split, split.size()));
}

// Whatever a peer sends, a head that is accepted describes exactly what
// parsing the whole body gives.
TEST(ChunkFrameTest, AcceptedHeadsAgreeWithTheFullParseOnMangledFrames) {
  const std::string body =
      SerializedFrame(ChunkTensor(2, Bytes("layer", 64), 64).front())
          .substr(kFrameHeaderBytes);
  std::mt19937 rng(5);
  int accepted = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string b = body;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      b[rng() % 40] = static_cast<char>(rng());  // the prefix is < 40 bytes
    }
    auto head = ParseChunkFrameHead(b, b.size());
    if (!head) continue;
    ++accepted;
    proto::Envelope whole;
    ASSERT_TRUE(whole.ParseFromString(b)) << trial;
    proto::Envelope rebuilt = head->envelope;
    rebuilt.mutable_tensor_chunk()->set_data(b.substr(head->data_offset));
    ASSERT_EQ(rebuilt.SerializeAsString(), whole.SerializeAsString()) << trial;
  }
  EXPECT_GT(accepted, 100);
}

TEST(ChunkFrameTest, PrefixOfAFrameOverTheLimitIsRefused) {
  std::string prefix;
  Status st = EncodeChunkFramePrefix("run", 1, 0, Bytes("w", 5000), 0, 5000,
                                     /*max_frame_bytes=*/4096, prefix);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("limit is 4096"), std::string::npos);
}

}  // namespace
}  // namespace fedjets::common
