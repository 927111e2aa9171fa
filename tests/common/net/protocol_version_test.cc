// The protocol version has one source, proto/fedjets.proto; C++ reads it
// as common::kProtocolVersion, which the client sends in Hello and the
// coordinator checks against.
#include <gtest/gtest.h>

#include <cstdint>

#include "common/net/connection.h"
#include "proto/fedjets.pb.h"

namespace fedjets::common {
namespace {

TEST(ProtocolVersionTest, IsTheCurrentVersionTheProtoDeclares) {
  const google::protobuf::EnumValueDescriptor* current =
      proto::ProtocolVersion_descriptor()->FindValueByName(
          "PROTOCOL_VERSION_CURRENT");
  ASSERT_NE(current, nullptr);
  EXPECT_EQ(kProtocolVersion, static_cast<uint32_t>(current->number()));
}

TEST(ProtocolVersionTest, WireValueStaysOne) {
  // Changing it is an incompatible protocol change: a coordinator then
  // refuses every client of an older build. Update docs/PROTOCOL.md with it.
  EXPECT_EQ(kProtocolVersion, 1u);
}

}  // namespace
}  // namespace fedjets::common
