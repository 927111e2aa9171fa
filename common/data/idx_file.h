// Reading IDX files (the MNIST family's format), gzipped or plain: a zlib
// file handle, the header check and the payload reader that the IDX loaders
// (common/data/dataset.cc, idx_rows.cc) share. Internal to fedjets_data.
// No shared state; one GzFile is used by one thread at a time.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common::idx {

// Bytes read per call while streaming a payload.
inline constexpr unsigned kChunkBytes = 1u << 20;

// Owns a zlib file handle; zlib reads gzip and plain files alike.
class GzFile {
 public:
  // NotFound, PermissionDenied or InvalidArgument, naming the file.
  static Result<GzFile> Open(const std::string& path);

  GzFile(GzFile&& o) noexcept
      : f_(std::exchange(o.f_, nullptr)),
        path_(std::move(o.path_)),
        file_bytes_(o.file_bytes_) {}
  GzFile& operator=(GzFile&&) = delete;
  GzFile(const GzFile&) = delete;
  ~GzFile() {
    if (f_ != nullptr) gzclose(f_);
  }

  const std::string& path() const { return path_; }
  uint64_t file_bytes() const { return file_bytes_; }
  // Only meaningful after the first read (zlib sniffs the magic lazily).
  bool compressed() const { return gzdirect(f_) == 0; }

  // Reads up to n bytes; fewer only at end of data. A zlib failure (corrupt
  // or truncated gzip stream) is DataLoss.
  Result<uint64_t> Read(void* dst, uint64_t n);

 private:
  GzFile(gzFile f, std::string path, uint64_t file_bytes)
      : f_(f), path_(std::move(path)), file_bytes_(file_bytes) {}

  std::string ZlibError();

  gzFile f_;
  std::string path_;
  uint64_t file_bytes_;
};

// Reads and validates an IDX header of unsigned bytes with `ndims` dims and
// returns the dims. `kind` ("images", "labels") makes mix-ups readable in
// the message. Checks the declared size against a limit and the file's size
// before anything is allocated.
Result<std::vector<uint64_t>> ReadHeader(GzFile& f, uint32_t ndims,
                                         const std::string& kind);

// Reads exactly `n` payload bytes in chunks, handing each to `sink`, then
// insists the file ends there so a wrong header cannot go unnoticed.
template <typename Sink>
Status ReadPayload(GzFile& f, uint64_t n, Sink&& sink) {
  std::vector<unsigned char> buf(std::min<uint64_t>(n, kChunkBytes) + 1);
  uint64_t done = 0;
  while (done < n) {
    const uint64_t want = std::min<uint64_t>(n - done, kChunkBytes);
    auto got = f.Read(buf.data(), want);
    if (!got.ok()) return got.status();
    sink(buf.data(), *got);
    done += *got;
    if (*got < want) {
      return DataLoss(f.path() + ": truncated: header declares " +
                      std::to_string(n) + " data bytes but only " +
                      std::to_string(done) + " follow it");
    }
  }
  auto extra = f.Read(buf.data(), 1);
  if (!extra.ok()) return extra.status();
  if (*extra != 0) {
    return DataLoss(f.path() + ": data continues past the " +
                    std::to_string(n) +
                    " bytes the header declares; corrupt header?");
  }
  return Status::Ok();
}

}  // namespace fedjets::common::idx
