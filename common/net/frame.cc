#include "common/net/frame.h"

#include <fmt/format.h>

namespace fedjets::common {

FrameHeader EncodeFrameHeader(uint32_t body_bytes) {
  return {static_cast<uint8_t>(body_bytes >> 24),
          static_cast<uint8_t>(body_bytes >> 16),
          static_cast<uint8_t>(body_bytes >> 8),
          static_cast<uint8_t>(body_bytes)};
}

uint32_t DecodeFrameHeader(const FrameHeader& h) {
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) |
         (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

Status CheckFrameLength(uint32_t body_bytes, uint32_t max_frame_bytes) {
  if (body_bytes == 0) return InvalidArgument("empty frame (length 0)");
  if (body_bytes > max_frame_bytes) {
    return InvalidArgument(
        fmt::format("frame of {} bytes exceeds the limit of {} bytes (raise "
                    "--max-frame-bytes on both sides if this is intended)",
                    body_bytes, max_frame_bytes));
  }
  return Status::Ok();
}

Result<std::string> EncodeFrame(const std::string& body,
                                uint32_t max_frame_bytes) {
  if (body.size() > max_frame_bytes) {
    return InvalidArgument(
        fmt::format("refusing to send a frame of {} bytes: limit is {} bytes",
                    body.size(), max_frame_bytes));
  }
  if (body.empty()) return InvalidArgument("refusing to send an empty frame");
  const FrameHeader h = EncodeFrameHeader(static_cast<uint32_t>(body.size()));
  std::string out;
  out.reserve(kFrameHeaderBytes + body.size());
  out.append(reinterpret_cast<const char*>(h.data()), h.size());
  out.append(body);
  return out;
}

}  // namespace fedjets::common
