#include "common/net/frame.h"

#include <gtest/gtest.h>

namespace fedjets::common {
namespace {

TEST(FrameTest, HeaderIsBigEndianAndRoundTrips) {
  FrameHeader h = EncodeFrameHeader(0x01020304);
  EXPECT_EQ(h[0], 1);
  EXPECT_EQ(h[1], 2);
  EXPECT_EQ(h[2], 3);
  EXPECT_EQ(h[3], 4);
  EXPECT_EQ(DecodeFrameHeader(h), 0x01020304u);
}

TEST(FrameTest, RejectsLengthAboveLimit) {
  Status st = CheckFrameLength(1025, 1024);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("exceeds the limit of 1024"), std::string::npos)
      << st.message();
}

TEST(FrameTest, AcceptsLengthAtLimit) {
  EXPECT_TRUE(CheckFrameLength(1024, 1024).ok());
}

TEST(FrameTest, RejectsEmptyFrame) {
  EXPECT_EQ(CheckFrameLength(0, 1024).code(), StatusCode::kInvalidArgument);
}

TEST(FrameTest, EncodeFramePrefixesLength) {
  auto f = EncodeFrame("abc", 1024);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->size(), 7u);
  EXPECT_EQ(f->substr(4), "abc");
  FrameHeader h;
  std::copy(f->begin(), f->begin() + 4, h.begin());
  EXPECT_EQ(DecodeFrameHeader(h), 3u);
}

TEST(FrameTest, EncodeFrameRefusesBodyOverLimit) {
  auto f = EncodeFrame(std::string(11, 'x'), 10);
  EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedjets::common
