// A main() for the fuzz targets where libFuzzer is not linked in (a GCC
// build): runs LLVMFuzzerTestOneInput once on every file named on the
// command line or found in a directory named there, so the seed corpora
// and the saved regressions are replayed by the ordinary test suite.
// Arguments starting with '-' are libFuzzer flags and are ignored.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

bool RunFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                         bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    if (argv[i][0] == '-') continue;
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(arg, ec)) {
      for (const auto& entry : fs::directory_iterator(arg, ec)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (fs::is_regular_file(arg, ec)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "no such file or directory: %s\n", argv[i]);
      return 1;
    }
    for (const fs::path& f : files) {
      if (!RunFile(f)) return 1;
      ++runs;
    }
  }
  std::printf("ran %d inputs\n", runs);
  if (runs == 0) {
    std::fprintf(stderr, "no inputs: name at least one file or folder\n");
    return 1;
  }
  return 0;
}
