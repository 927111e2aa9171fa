#include "common/net/tensor_codec.h"

#include <gtest/gtest.h>

#include <cstring>

namespace fedjets::common {
namespace {

WireTensor FloatTensor(const std::string& name, std::vector<int64_t> shape,
                       float start = 0.f) {
  WireTensor t;
  t.name = name;
  t.shape = std::move(shape);
  std::vector<float> v(t.NumElements());
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<float>(i);
  t.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  return t;
}

TEST(TensorCodecTest, ChunksReassembleToTheSameTensors) {
  ParameterList in = {FloatTensor("a", {3, 5}), FloatTensor("b", {7}),
                      FloatTensor("empty", {0})};
  TensorAssembler assembler(3, 1 << 20);
  for (size_t i = 0; i < in.size(); ++i) {
    for (const auto& c : ChunkTensor(static_cast<int32_t>(i), in[i], 8)) {
      ASSERT_TRUE(assembler.Add(c).ok());
    }
  }
  ASSERT_TRUE(assembler.complete());
  ParameterList out = assembler.Take();
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].name, in[i].name);
    EXPECT_EQ(out[i].shape, in[i].shape);
    EXPECT_EQ(out[i].bytes, in[i].bytes);
  }
}

TEST(TensorCodecTest, ChunkCountFollowsChunkSize) {
  auto chunks = ChunkTensor(0, FloatTensor("a", {10}), 16);  // 40 bytes
  EXPECT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[2].offset(), 32u);
  EXPECT_EQ(chunks[2].data().size(), 8u);
  EXPECT_TRUE(chunks[1].name().empty()) << "only the first chunk names it";
}

TEST(TensorCodecTest, RejectsOutOfOrderChunk) {
  auto chunks = ChunkTensor(0, FloatTensor("a", {10}), 16);
  TensorAssembler assembler(1, 1 << 20);
  ASSERT_TRUE(assembler.Add(chunks[0]).ok());
  Status st = assembler.Add(chunks[2]);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("does not continue"), std::string::npos);
}

TEST(TensorCodecTest, RejectsDeclaredSizeThatDoesNotMatchShape) {
  auto chunks = ChunkTensor(0, FloatTensor("a", {10}), 64);
  chunks[0].set_total_bytes(400);
  TensorAssembler assembler(1, 1 << 20);
  Status st = assembler.Add(chunks[0]);
  EXPECT_NE(st.message().find("declares 400 bytes but needs 40"),
            std::string::npos)
      << st.message();
}

TEST(TensorCodecTest, RejectsTensorAboveLimitBeforeBuffering) {
  auto chunks = ChunkTensor(0, FloatTensor("big", {1000}), 64);
  TensorAssembler assembler(1, 1000);
  Status st = assembler.Add(chunks[0]);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("exceeds the limit"), std::string::npos);
}

TEST(TensorCodecTest, RejectsChunksBeyondExpectedCount) {
  TensorAssembler assembler(0, 1 << 20);
  EXPECT_FALSE(assembler.Add(ChunkTensor(0, FloatTensor("a", {1}), 8)[0]).ok());
}

TEST(TensorCodecTest, CheckParameterListNamesFirstShapeMismatch) {
  ParameterList want = {FloatTensor("w", {2, 3}), FloatTensor("b", {3})};
  ParameterList got = {FloatTensor("w", {2, 3}), FloatTensor("b", {4})};
  Status st = CheckParameterList(want, got);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("'b' has shape [4] but [3] was expected"),
            std::string::npos)
      << st.message();
}

TEST(TensorCodecTest, CheckParameterListNamesWrongNameAndMissing) {
  ParameterList want = {FloatTensor("w", {2}), FloatTensor("b", {2})};
  ParameterList renamed = {FloatTensor("x", {2}), FloatTensor("b", {2})};
  EXPECT_NE(CheckParameterList(want, renamed).message().find("named \"x\""),
            std::string::npos);
  ParameterList shorter = {FloatTensor("w", {2})};
  EXPECT_NE(
      CheckParameterList(want, shorter).message().find("first missing: 'b'"),
      std::string::npos);
}

TEST(TensorCodecTest, CheckParameterListRejectsDtypeMismatch) {
  ParameterList want = {FloatTensor("w", {2})};
  ParameterList got = want;
  got[0].dtype = proto::DTYPE_FLOAT64;
  got[0].bytes.resize(16);
  EXPECT_NE(CheckParameterList(want, got).message().find("is float64"),
            std::string::npos);
}

TEST(TensorCodecTest, ValidateTensorCatchesByteCountMismatch) {
  WireTensor t = FloatTensor("w", {4});
  t.bytes.pop_back();
  EXPECT_FALSE(ValidateTensor(t).ok());
}

// Streams tensor `index` into `assembler` as a receiver does: each chunk's
// place from its fields (Place), then its data copied there (Commit).
void PlaceChunks(TensorAssembler& assembler, int32_t index, const WireTensor& t,
                 size_t chunk_bytes) {
  for (const auto& c : ChunkTensor(index, t, chunk_bytes)) {
    proto::TensorChunk meta = c;
    meta.clear_data();
    auto at = assembler.Place(meta, c.data().size());
    ASSERT_TRUE(at.ok()) << at.status().ToString();
    std::memcpy(*at, c.data().data(), c.data().size());
    assembler.Commit();
  }
}

TEST(TensorCodecTest, PlacedChunkBytesLandInTheTensor) {
  const WireTensor in = FloatTensor("a", {10});  // 40 bytes
  TensorAssembler assembler(1, 1 << 20);
  ASSERT_NO_FATAL_FAILURE(PlaceChunks(assembler, 0, in, 16));
  ASSERT_TRUE(assembler.complete());
  EXPECT_EQ(assembler.Take()[0].bytes, in.bytes);
}

// Reuse hands over last round's storage: its old bytes are overwritten in
// place (not zeroed first), so whatever the spare held, longer, shorter or
// the same size, the tensor is exactly what was sent; same-size storage is
// kept.
TEST(TensorCodecTest, ReusedStorageEndsHoldingExactlyTheNewBytes) {
  const ParameterList in = {FloatTensor("same", {10}, 1.f),
                            FloatTensor("shorter", {3}, 2.f),
                            FloatTensor("longer", {9}, 3.f)};
  ParameterList old = {FloatTensor("same", {10}, 100.f),
                       FloatTensor("shorter", {8}, 200.f),
                       FloatTensor("longer", {2}, 300.f)};
  const char* same_storage = old[0].bytes.data();
  TensorAssembler assembler(3, 1 << 20);
  assembler.Reuse(std::move(old));
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(
        PlaceChunks(assembler, static_cast<int32_t>(i), in[i], 8));
  }
  ASSERT_TRUE(assembler.complete());
  ParameterList out = assembler.Take();
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].bytes, in[i].bytes) << in[i].name;
  }
  EXPECT_EQ(out[0].bytes.data(), same_storage);
}

TEST(TensorCodecTest, PlacingMoreThanTheTensorHoldsIsRefused) {
  proto::TensorChunk meta = ChunkTensor(0, FloatTensor("a", {10}), 64)[0];
  meta.clear_data();
  TensorAssembler assembler(1, 1 << 20);
  auto at = assembler.Place(meta, 41);
  EXPECT_EQ(at.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(at.status().message().find("exceed its declared 40 bytes"),
            std::string::npos);
}

}  // namespace
}  // namespace fedjets::common
