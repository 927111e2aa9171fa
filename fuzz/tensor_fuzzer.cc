// Fuzzes chunk reassembly and tensor decoding (common/net/tensor_codec.h).
// Input: one byte for the number of tensors expected (0..7), one for the
// per-tensor byte limit (2^0..2^19), then frames (fuzz_input.h) each holding
// a serialized TensorChunk, fed to a TensorAssembler until it fails or
// completes. A completed list must hold valid tensors that survive a round
// trip through ChunkTensor and a second assembler unchanged; anything else
// aborts (a finding).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "common/net/tensor_codec.h"
#include "fuzz/fuzz_input.h"
#include "proto/fedjets.pb.h"

namespace fedjets::fuzz {
namespace {

constexpr uint32_t kMaxFrameBytes = 1 << 20;

void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fedjets tensor fuzzer: %s\n", what);
  std::abort();
}

// Chunks `list` with `chunk_bytes` per chunk and reassembles it.
common::ParameterList RoundTrip(const common::ParameterList& list,
                                size_t chunk_bytes, uint64_t max_tensor_bytes) {
  common::TensorAssembler again(static_cast<int32_t>(list.size()),
                                max_tensor_bytes);
  for (size_t i = 0; i < list.size(); ++i) {
    for (const proto::TensorChunk& c :
         common::ChunkTensor(static_cast<int32_t>(i), list[i], chunk_bytes)) {
      Require(again.Add(c).ok(), "re-chunked tensor refused");
    }
  }
  Require(again.complete(), "re-chunked list incomplete");
  return again.Take();
}

}  // namespace
}  // namespace fedjets::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedjets::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedjets;
  if (size < 2) return 0;
  const int32_t expected = data[0] % 8;
  const uint64_t max_tensor_bytes = uint64_t{1} << (data[1] % 20);
  const size_t chunk_bytes = 1 + data[1] % 61;
  common::TensorAssembler assembler(expected, max_tensor_bytes);
  fuzz::FrameCursor frames(data + 2, size - 2, fuzz::kMaxFrameBytes);
  while (!assembler.complete()) {
    auto body = frames.Next();
    if (!body.has_value()) return 0;
    proto::TensorChunk chunk;
    if (!chunk.ParseFromArray(body->data(), static_cast<int>(body->size()))) {
      return 0;
    }
    if (!assembler.Add(chunk).ok()) return 0;
  }
  const common::ParameterList got = assembler.Take();
  fuzz::Require(got.size() == static_cast<size_t>(expected),
                "complete assembler returned the wrong tensor count");
  for (const common::WireTensor& t : got) {
    fuzz::Require(common::ValidateTensor(t).ok(),
                  "assembled tensor fails ValidateTensor");
    fuzz::Require(t.bytes.size() <= max_tensor_bytes,
                  "assembled tensor exceeds the byte limit");
  }
  fuzz::Require(common::CheckParameterList(got, got).ok(),
                "list differs from itself");
  const common::ParameterList again =
      fuzz::RoundTrip(got, chunk_bytes, max_tensor_bytes);
  fuzz::Require(common::CheckParameterList(got, again).ok(),
                "round trip changed names, dtypes or shapes");
  fuzz::Require(common::ContentHash(got) == common::ContentHash(again),
                "round trip changed the bytes");
  fuzz::Require(common::TotalBytes(got) == common::TotalBytes(again),
                "round trip changed the size");
  return 0;
}
