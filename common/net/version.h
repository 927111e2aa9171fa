// Protocol version spoken by this build (see proto/fedjets.proto).
#pragma once

#include <cstdint>

namespace fedjets::common {

inline constexpr uint32_t kProtocolVersion = 1;

}  // namespace fedjets::common
