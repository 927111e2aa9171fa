#include "fuzz/fuzz_input.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/net/frame.h"
#include "google/protobuf/stubs/logging.h"

namespace fedjets::fuzz {
namespace {

namespace fs = std::filesystem;

// A directory of its own per process, so parallel fuzzing jobs (-jobs=N)
// never share scratch files.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern =
        (fs::temp_directory_path() / "fedjets-fuzz-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("fedjets fuzz: mkdtemp");
      std::abort();
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

std::optional<std::string_view> FrameCursor::Next() {
  if (size_ - pos_ < common::kFrameHeaderBytes) return std::nullopt;
  common::FrameHeader header;
  std::copy_n(data_ + pos_, header.size(), header.begin());
  const uint32_t length = common::DecodeFrameHeader(header);
  if (!common::CheckFrameLength(length, max_frame_bytes_).ok()) {
    return std::nullopt;
  }
  if (length > size_ - pos_ - header.size()) return std::nullopt;  // cut off
  pos_ += header.size();
  std::string_view body(reinterpret_cast<const char*>(data_ + pos_), length);
  pos_ += length;
  return body;
}

void SilenceProtobufLogs() { google::protobuf::SetLogHandler(nullptr); }

std::string WriteScratchFile(const std::string& name, std::string_view bytes) {
  static ScratchDir dir;
  const fs::path path = dir.path() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fedjets fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path.string();
}

}  // namespace fedjets::fuzz
