// Receiving an expected tensor list from an untrusted peer: every tensor's
// name, dtype and shape is checked on its first chunk, before any of its
// bytes are accepted, and the stream's frames are capped near the expected
// size (TensorAssembler with a TensorSpecList).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "common/net/connection.h"
#include "common/net/frame.h"
#include "common/net/tensor_codec.h"

namespace fedjets::common {
namespace {

WireTensor Floats(const std::string& name, std::vector<int64_t> shape) {
  WireTensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.bytes.assign(static_cast<size_t>(t.NumElements()) * 4, '\x01');
  return t;
}

// What a chunk takes on the wire: its frame header and envelope.
uint64_t WireBytes(const proto::TensorChunk& chunk) {
  proto::Envelope e = MakeEnvelope("run-20260101-000000-abcdef", 7);
  *e.mutable_tensor_chunk() = chunk;
  return kFrameHeaderBytes + e.ByteSizeLong();
}

class TensorSpecTest : public ::testing::Test {
 protected:
  // A small model: two weights and a bias, 4,800 bytes of data.
  const ParameterList model_ = {Floats("fc1.weight", {16, 64}),
                                Floats("fc1.bias", {16}),
                                Floats("fc2.weight", {10, 16})};
  TensorAssembler assembler_{SpecOf(model_), uint64_t{1} << 20};

  // Feeds tensor `index` of `t` in chunks of `chunk_bytes`, charging each
  // frame first as the reader does; the first error, else OK.
  Status Feed(int32_t index, const WireTensor& t, size_t chunk_bytes) {
    for (const proto::TensorChunk& c : ChunkTensor(index, t, chunk_bytes)) {
      FEDJETS_RETURN_IF_ERROR(assembler_.ChargeWireBytes(WireBytes(c)));
      FEDJETS_RETURN_IF_ERROR(assembler_.Add(c));
    }
    return Status::Ok();
  }
};

TEST_F(TensorSpecTest, TheExpectedTensorsInSmallChunksFitTheCap) {
  for (size_t i = 0; i < model_.size(); ++i) {
    ASSERT_TRUE(Feed(static_cast<int32_t>(i), model_[i], 1024).ok());
  }
  ASSERT_TRUE(assembler_.complete());
  ParameterList got = assembler_.Take();
  ASSERT_EQ(got.size(), model_.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, model_[i].name);
    EXPECT_EQ(got[i].bytes, model_[i].bytes);
  }
}

TEST_F(TensorSpecTest, CapIsTheDataPlusAQuarterAndFixedSlack) {
  // 1,024 + 16 + 160 floats = 4,800 bytes.
  EXPECT_EQ(StreamByteCap(SpecOf(model_)),
            4'800u + 4'800u / 4 + 3 * 1024u + 65'536u);
  EXPECT_EQ(assembler_.wire_bytes_left(), StreamByteCap(SpecOf(model_)));
}

TEST_F(TensorSpecTest, WrongNameIsRefusedOnTheFirstChunk) {
  WireTensor renamed = model_[0];
  renamed.name = "fc1.weight\n[info] forged";
  auto chunks = ChunkTensor(0, renamed, 1024);
  Status st = assembler_.Add(chunks[0]);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "tensor 0 is named \"fc1.weight\\n[info] forged\" but "
            "'fc1.weight' was expected");
}

TEST_F(TensorSpecTest, WrongDtypeIsRefusedOnTheFirstChunk) {
  WireTensor doubles = model_[0];
  doubles.dtype = proto::DTYPE_FLOAT64;
  doubles.bytes += doubles.bytes;  // consistent with its own shape
  Status st = assembler_.Add(ChunkTensor(0, doubles, 1024)[0]);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "tensor 0 ('fc1.weight') has dtype float64 but float32 was "
            "expected");
}

TEST_F(TensorSpecTest, WrongShapeIsRefusedBeforeItsBytesAreTaken) {
  // A shape a thousand times larger: refused on its first chunk, not
  // after the bytes it declares.
  Status st = assembler_.Add(
      ChunkTensor(0, Floats("fc1.weight", {16, 64'000}), 1024)[0]);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "tensor 0 ('fc1.weight') has shape [16, 64000] but [16, 64] was "
            "expected");
}

TEST_F(TensorSpecTest, ATensorBeyondTheExpectedListIsRefused) {
  for (size_t i = 0; i < model_.size(); ++i) {
    ASSERT_TRUE(Feed(static_cast<int32_t>(i), model_[i], 1 << 20).ok());
  }
  ASSERT_TRUE(assembler_.complete());
  Status st = assembler_.Add(ChunkTensor(3, Floats("extra", {1}), 1024)[0]);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("all 3 tensors already received"),
            std::string::npos)
      << st.message();
}

TEST_F(TensorSpecTest, TooFewTensorsLeaveTheStreamIncomplete) {
  ASSERT_TRUE(Feed(0, model_[0], 1 << 20).ok());
  ASSERT_TRUE(Feed(1, model_[1], 1 << 20).ok());
  EXPECT_FALSE(assembler_.complete());
  // What comes instead of the last tensor is refused.
  Status st = assembler_.Add(ChunkTensor(2, Floats("fc3.weight", {1}), 8)[0]);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

TEST_F(TensorSpecTest, ChunksTooSmallForTheirFramingPassTheCapAndAreCutOff) {
  // One byte per chunk: ~45 bytes of framing each. The right tensor, but
  // the stream is cut off once its frames pass the cap, long before the
  // 4,096 chunks it would take.
  Status st = Status::Ok();
  int chunks = 0;
  for (const proto::TensorChunk& c : ChunkTensor(0, model_[0], 1)) {
    st = assembler_.ChargeWireBytes(WireBytes(c));
    if (!st.ok()) break;
    ASSERT_TRUE(assembler_.Add(c).ok());
    ++chunks;
  }
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("over its cap of 74608 bytes"), std::string::npos)
      << st.message();
  EXPECT_LT(chunks, 4'096);
  EXPECT_EQ(assembler_.wire_bytes_left(), 0u);
}

TEST_F(TensorSpecTest, AChunkWithoutDataIsRefused) {
  auto chunks = ChunkTensor(0, model_[0], 1024);
  ASSERT_TRUE(assembler_.Add(chunks[0]).ok());
  proto::TensorChunk stall = chunks[1];
  stall.clear_data();
  Status st = assembler_.Add(stall);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "a chunk of tensor \"fc1.weight\" carries no data");
}

TEST_F(TensorSpecTest, MoreDataThanTheShapeHoldsIsRefused) {
  auto chunks = ChunkTensor(0, model_[0], 1 << 20);
  chunks[0].mutable_data()->append(100, '\0');
  Status st = assembler_.Add(chunks[0]);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("exceed its declared 4096 bytes"),
            std::string::npos)
      << st.message();
}

TEST(TensorSpecWithoutListTest, ACountOnlyAssemblerHasNoByteCap) {
  TensorAssembler any(1, 1 << 20);
  EXPECT_TRUE(any.ChargeWireBytes(uint64_t{1} << 40).ok());
  EXPECT_EQ(any.wire_bytes_left(), std::numeric_limits<uint64_t>::max());
}

}  // namespace
}  // namespace fedjets::common
