// Helpers the fuzz targets share to cut one fuzzer input into the pieces a
// parser reads: length-prefixed records (the wire's own framing, decoded
// by common/net/frame.h) and scratch files for readers that take a path.
// Not thread-safe: each fuzz target runs one input at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fedjets::fuzz {

// Walks `data` as a sequence of frames: a 4-byte big-endian length, then
// that many bytes. The length goes through DecodeFrameHeader and
// CheckFrameLength, exactly as Connection::Read does.
class FrameCursor {
 public:
  FrameCursor(const uint8_t* data, size_t size, uint32_t max_frame_bytes)
      : data_(data), size_(size), max_frame_bytes_(max_frame_bytes) {}

  // The next frame's body, or nullopt at the end of the input, at a length
  // the frame checks refuse, or at a frame cut off by the end of the input
  // (the rest of the input is then ignored).
  std::optional<std::string_view> Next();

 private:
  const uint8_t* data_;
  size_t size_;
  uint32_t max_frame_bytes_;
  size_t pos_ = 0;
};

// Overwrites the scratch file `name` (in a directory private to this
// process, removed at exit) with `bytes` and returns its path. Aborts if
// the file cannot be written: that is a broken fuzzing host, not a finding.
std::string WriteScratchFile(const std::string& name, std::string_view bytes);

// Drops Protobuf's log lines (e.g. "invalid UTF-8" for each such string
// field parsed): a fuzzer provokes millions of them, and the parse result
// is what the targets check.
void SilenceProtobufLogs();

}  // namespace fedjets::fuzz
