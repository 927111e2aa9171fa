// Length-prefixed framing: every frame is a 4-byte big-endian body length
// followed by the body (one serialized proto::Envelope). These are pure
// functions; common/connection.h does the I/O. The length is always checked
// against the configured limit before any buffer for the body is allocated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/base/status.h"

namespace fedjets::common {

inline constexpr size_t kFrameHeaderBytes = 4;
inline constexpr uint32_t kDefaultMaxFrameBytes = 64u << 20;  // 64 MiB

using FrameHeader = std::array<uint8_t, kFrameHeaderBytes>;

FrameHeader EncodeFrameHeader(uint32_t body_bytes);
uint32_t DecodeFrameHeader(const FrameHeader& header);

// Validates a decoded body length: non-zero and at most max_frame_bytes.
Status CheckFrameLength(uint32_t body_bytes, uint32_t max_frame_bytes);

// Header + body in one buffer, for a single write. Fails if the body exceeds
// max_frame_bytes (a sender never emits what the peer must refuse).
Result<std::string> EncodeFrame(const std::string& body,
                                uint32_t max_frame_bytes);

}  // namespace fedjets::common
