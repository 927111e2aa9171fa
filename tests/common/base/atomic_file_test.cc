#include "common/base/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/common/base/temp_dir.h"

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;
using testutil::ReadFile;

mode_t FileMode(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class AtomicFileTest : public testutil::TempDirTest {
 protected:
  // Names of the files in dir_, sorted.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
};

TEST_F(AtomicFileTest, WritesTheGivenBytes) {
  const std::string data("line\n\0binary\xff", 13);
  ASSERT_TRUE(WriteFileAtomically(dir_ / "out.bin", data).ok());
  EXPECT_EQ(ReadFile(dir_ / "out.bin"), data);
  EXPECT_EQ(Files(), std::vector<std::string>{"out.bin"});
}

TEST_F(AtomicFileTest, ReplacesAnExistingFile) {
  std::ofstream(dir_ / "out.txt") << "a much longer old content";
  ASSERT_TRUE(WriteFileAtomically(dir_ / "out.txt", "new").ok());
  EXPECT_EQ(ReadFile(dir_ / "out.txt"), "new");
  EXPECT_EQ(Files(), std::vector<std::string>{"out.txt"});
}

TEST_F(AtomicFileTest, MissingDirectoryIsNotFoundAndNamesThePath) {
  const fs::path path = dir_ / "no-such-dir" / "out.txt";
  Status st = WriteFileAtomically(path, "x");
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find(path.string()), std::string::npos)
      << st.message();
}

TEST_F(AtomicFileTest, WriterErrorLeavesTheTargetAndNoTempFile) {
  std::ofstream(dir_ / "out.txt") << "old";
  Status st = WriteFileAtomicallyWith(dir_ / "out.txt", [](const fs::path& t) {
    std::ofstream(t) << "half";
    return DataLoss("writer gave up on " + t.string());
  });
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_EQ(ReadFile(dir_ / "out.txt"), "old");
  EXPECT_EQ(Files(), std::vector<std::string>{"out.txt"});
}

TEST_F(AtomicFileTest, WriterExceptionIsAnErrorNamingThePathAndLeavesNoTemp) {
  Status st =
      WriteFileAtomicallyWith(dir_ / "model.pt", [](const fs::path&) -> Status {
        throw std::runtime_error("disk on fire");
      });
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find((dir_ / "model.pt").string()), std::string::npos);
  EXPECT_NE(st.message().find("disk on fire"), std::string::npos);
  EXPECT_TRUE(Files().empty());
}

// torch::save records the file's name less its last extension in the
// archive, so this is what keeps saved models byte-identical.
TEST_F(AtomicFileTest, WriterGetsAnEmptyTempFileBesideTheTargetNamedAfterIt) {
  fs::path seen;
  ASSERT_TRUE(
      WriteFileAtomicallyWith(dir_ / "model.pt", [&](const fs::path& temp) {
        seen = temp;
        EXPECT_EQ(fs::file_size(temp), 0u);
        std::ofstream(temp) << "weights";
        return Status::Ok();
      }).ok());
  EXPECT_EQ(seen.parent_path(), dir_);
  EXPECT_EQ(seen.stem(), "model.pt");
  EXPECT_EQ(ReadFile(dir_ / "model.pt"), "weights");
  EXPECT_EQ(Files(), std::vector<std::string>{"model.pt"});
}

TEST_F(AtomicFileTest, NoOverwriteRefusesAnExistingFileAndLeavesIt) {
  std::ofstream(dir_ / "ca.key") << "keep me";
  AtomicWriteOptions o;
  o.overwrite = false;
  Status st = WriteFileAtomically(dir_ / "ca.key", "new key", o);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find((dir_ / "ca.key").string()), std::string::npos);
  EXPECT_EQ(ReadFile(dir_ / "ca.key"), "keep me");
  EXPECT_EQ(Files(), std::vector<std::string>{"ca.key"});
}

TEST_F(AtomicFileTest, NoOverwriteCreatesAMissingFile) {
  AtomicWriteOptions o;
  o.overwrite = false;
  ASSERT_TRUE(WriteFileAtomically(dir_ / "ca.key", "key", o).ok());
  EXPECT_EQ(ReadFile(dir_ / "ca.key"), "key");
  EXPECT_EQ(Files(), std::vector<std::string>{"ca.key"});
}

TEST_F(AtomicFileTest, ExactModeIsSetWhateverTheUmask) {
  const mode_t old_umask = umask(0077);
  AtomicWriteOptions o;
  o.mode = 0644;
  Status st = WriteFileAtomically(dir_ / "ca.pem", "cert", o);
  o.mode = 0600;
  Status key = WriteFileAtomically(dir_ / "ca.key", "key", o);
  umask(old_umask);
  ASSERT_TRUE(st.ok() && key.ok());
  EXPECT_EQ(FileMode(dir_ / "ca.pem"), 0644u);
  EXPECT_EQ(FileMode(dir_ / "ca.key"), 0600u);
}

TEST_F(AtomicFileTest, DefaultModeIsTheOneAnOfstreamWouldGive) {
  const mode_t old_umask = umask(0027);
  std::ofstream(dir_ / "by-ofstream") << "x";
  Status st = WriteFileAtomically(dir_ / "atomic", "x");
  umask(old_umask);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(FileMode(dir_ / "atomic"), 0640u);
  EXPECT_EQ(FileMode(dir_ / "atomic"), FileMode(dir_ / "by-ofstream"));
}

}  // namespace
}  // namespace fedjets::common
