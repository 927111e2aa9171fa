#include "common/base/read_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "tests/common/base/temp_dir.h"

namespace fedjets::common {
namespace {

class ReadFileTest : public testutil::TempDirTest {};

TEST_F(ReadFileTest, ReturnsEveryByteIncludingNuls) {
  const std::string bytes("a\0b\r\n\xff", 6);
  std::ofstream(dir_ / "f", std::ios::binary) << bytes;
  Result<std::string> got = ReadFileToString(dir_ / "f");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, bytes);
}

TEST_F(ReadFileTest, EmptyFileIsEmptyString) {
  std::ofstream(dir_ / "empty").flush();
  Result<std::string> got = ReadFileToString(dir_ / "empty");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "");
}

TEST_F(ReadFileTest, MissingFileIsNotFoundNamingIt) {
  const std::string path = (dir_ / "nope").string();
  Result<std::string> got = ReadFileToString(path);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(), path + ": no such file");
}

TEST_F(ReadFileTest, DirectoryIsRefused) {
  Result<std::string> got = ReadFileToString(dir_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(got.status().message(), dir_.string() + ": not a regular file");
}

TEST_F(ReadFileTest, UnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::ofstream(dir_ / "secret") << "x";
  ASSERT_EQ(chmod((dir_ / "secret").c_str(), 0), 0);
  Result<std::string> got = ReadFileToString(dir_ / "secret");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(got.status().message().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace fedjets::common
