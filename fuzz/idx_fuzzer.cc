// Fuzzes the IDX reader (LoadIdx, common/data/dataset.h), which reads
// files. Input: one byte choosing num_classes_hint (0, i.e. inferred, or
// 10), four bytes (big-endian) for the length of the image file, the image
// file, and the label file as the rest. Both are written to scratch files,
// plain or gzipped as the bytes say (zlib sniffs the gzip magic). A loaded
// dataset must keep the Dataset invariants (ValidateDataset) unless it is
// empty; anything else aborts (a finding).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/data/dataset.h"
#include "common/data/dataset_source.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedjets;
  if (size < 5) return 0;
  const int64_t hint = (data[0] & 1) != 0 ? 10 : 0;
  const uint32_t declared = (uint32_t{data[1]} << 24) |
                            (uint32_t{data[2]} << 16) |
                            (uint32_t{data[3]} << 8) | uint32_t{data[4]};
  const std::string_view rest(reinterpret_cast<const char*>(data + 5),
                              size - 5);
  const size_t image_bytes = std::min<size_t>(declared, rest.size());
  const std::string images =
      fuzz::WriteScratchFile("images-idx3-ubyte", rest.substr(0, image_bytes));
  const std::string labels =
      fuzz::WriteScratchFile("labels-idx1-ubyte", rest.substr(image_bytes));
  auto loaded = common::LoadIdx(images, labels, "fuzz", hint);
  if (!loaded.ok()) return 0;
  // An empty file with the classes inferred has no classes: LoadIdx allows
  // it and LoadDataset's own ValidateDataset refuses it.
  if (loaded->size() == 0 && loaded->num_classes == 0) return 0;
  const common::Status valid = common::ValidateDataset(*loaded, "fuzz");
  if (!valid.ok()) {
    std::fprintf(stderr, "LoadIdx returned a broken dataset: %s\n",
                 valid.ToString().c_str());
    std::abort();
  }
  return 0;
}
