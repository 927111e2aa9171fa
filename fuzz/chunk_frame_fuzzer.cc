// Fuzzes how a receiver finds a chunk's data before reading it
// (common/net/chunk_frame.h). The input is one frame body. For several
// amounts of it read so far, ParseChunkFrameHead either declines (the body
// is then parsed whole) or returns an envelope and a data position that
// must be exactly what parsing the whole body gives; anything else aborts
// (a finding).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/net/chunk_frame.h"
#include "proto/fedjets.pb.h"

namespace fedjets::fuzz {
namespace {

void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fedjets chunk frame fuzzer: %s\n", what);
  std::abort();
}

void Check(std::string_view body, size_t head_bytes) {
  auto head =
      common::ParseChunkFrameHead(body.substr(0, head_bytes), body.size());
  if (!head) return;
  Require(head->data_offset <= head_bytes, "data starts past the head");
  Require(head->data_offset + head->data_bytes == body.size(),
          "data does not end the body");
  proto::Envelope whole;
  Require(whole.ParseFromArray(body.data(), static_cast<int>(body.size())),
          "accepted a head the full parse refuses");
  proto::Envelope rebuilt = head->envelope;
  rebuilt.mutable_tensor_chunk()->set_data(
      std::string(body.substr(head->data_offset)));
  Require(rebuilt.SerializeAsString() == whole.SerializeAsString(),
          "head and full parse disagree");
}

}  // namespace
}  // namespace fedjets::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (size_t head : {size, size / 2, size < 1024 ? size : size_t{1024}}) {
    fedjets::fuzz::Check(body, head);
  }
  return 0;
}
