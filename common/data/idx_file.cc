#include "common/data/idx_file.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

namespace fedjets::common::idx {
namespace {

namespace fs = std::filesystem;

// Largest element count a header may declare: 2^30 bytes of pixels becomes
// 4 GiB of floats, well past any dataset this framework trains on. A corrupt
// header (e.g. 0xFFFFFFFF dims) is rejected here instead of in operator new.
constexpr uint64_t kMaxIdxElements = uint64_t{1} << 30;

// Deflate cannot expand data by more than about 1032:1, so a gzip file
// declaring more than this many payload bytes per file byte is truncated or
// its header is corrupt; checking first avoids allocating for it.
constexpr uint64_t kMaxGzipRatio = 1100;

constexpr uint8_t kIdxUnsignedByte = 0x08;
StatusCode StatusFromErrno(int err) {
  return err == EACCES ? StatusCode::kPermissionDenied
                       : StatusCode::kInvalidArgument;
}
std::string Hex32(uint32_t v) {
  std::array<char, 16> buf{};
  std::snprintf(buf.data(), buf.size(), "0x%08x", v);
  return buf.data();
}

}  // namespace

Result<GzFile> GzFile::Open(const std::string& path) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) {
    return NotFound(path + ": no such file");
  }
  if (ec) {
    return Status(StatusFromErrno(ec.value()), path + ": " + ec.message());
  }
  if (!fs::is_regular_file(st)) {
    return InvalidArgument(path + ": not a regular file");
  }
  uint64_t size = fs::file_size(path, ec);
  if (ec) return InvalidArgument(path + ": cannot stat: " + ec.message());
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;  // read once: later calls may overwrite it
    return Status(
        StatusFromErrno(err),
        path + ": cannot open: " + std::generic_category().message(err));
  }
  gzbuffer(f, 1u << 17);
  return GzFile(f, path, size);
}

Result<uint64_t> GzFile::Read(void* dst, uint64_t n) {
  uint64_t done = 0;
  auto* out = static_cast<unsigned char*>(dst);
  while (done < n) {
    unsigned want =
        static_cast<unsigned>(std::min<uint64_t>(n - done, kChunkBytes));
    int got = gzread(f_, out + done, want);
    if (got < 0) return DataLoss(path_ + ": " + ZlibError());
    done += static_cast<uint64_t>(got);
    if (static_cast<unsigned>(got) < want) break;
  }
  int errnum = Z_OK;
  gzerror(f_, &errnum);
  if (errnum != Z_OK) return DataLoss(path_ + ": " + ZlibError());
  return done;
}

std::string GzFile::ZlibError() {
  int errnum = Z_OK;
  const char* msg = gzerror(f_, &errnum);
  if (errnum == Z_ERRNO) return std::generic_category().message(errno);
  std::string s = (msg != nullptr && *msg != '\0') ? msg : "zlib error";
  return "corrupt or truncated gzip data (" + s + ")";
}

Result<std::vector<uint64_t>> ReadHeader(GzFile& f, uint32_t ndims,
                                         const std::string& kind) {
  const uint32_t expected = (uint32_t{kIdxUnsignedByte} << 8) | ndims;
  std::array<unsigned char, 4> magic{};
  auto got = f.Read(magic.data(), magic.size());
  if (!got.ok()) return got.status();
  if (*got < magic.size()) {
    return DataLoss(f.path() + ": file too short for an IDX header");
  }
  const uint32_t m = (uint32_t{magic[0]} << 24) | (uint32_t{magic[1]} << 16) |
                     (uint32_t{magic[2]} << 8) | magic[3];
  if (m != expected) {
    std::string why;
    if (magic[0] != 0 || magic[1] != 0) {
      why = "not an IDX file";
    } else if (magic[2] != kIdxUnsignedByte) {
      why = "IDX element type " + Hex32(magic[2]) +
            " is not supported (only unsigned byte, 0x08)";
    } else {
      why = "IDX file has " + std::to_string(magic[3]) + " dimension(s), " +
            kind + " need " + std::to_string(ndims) +
            " (were the images and labels paths swapped?)";
    }
    return InvalidArgument(f.path() + ": bad magic " + Hex32(m) +
                           ", expected " + Hex32(expected) + " for IDX " +
                           kind + ": " + why);
  }
  std::vector<uint64_t> dims(ndims);
  uint64_t elements = 1;
  // The bound counts a zero example count as one, so that an empty file
  // cannot declare per-example dims whose product overflows (callers
  // multiply them).
  uint64_t bounded = 1;
  for (uint32_t i = 0; i < ndims; ++i) {
    std::array<unsigned char, 4> b{};
    auto n = f.Read(b.data(), b.size());
    if (!n.ok()) return n.status();
    if (*n < b.size()) {
      return DataLoss(f.path() + ": header ends before dimension " +
                      std::to_string(i));
    }
    dims[i] = (uint64_t{b[0]} << 24) | (uint64_t{b[1]} << 16) |
              (uint64_t{b[2]} << 8) | b[3];
    // The example count may be zero; the per-example dims may not.
    if (i > 0 && dims[i] == 0) {
      return InvalidArgument(f.path() + ": dimension " + std::to_string(i) +
                             " is 0");
    }
    const uint64_t counted = std::max<uint64_t>(dims[i], 1);
    if (bounded > kMaxIdxElements / counted) {
      return InvalidArgument(f.path() + ": header declares more than " +
                             std::to_string(kMaxIdxElements) +
                             " elements; corrupt header or not a dataset "
                             "this loader supports");
    }
    bounded *= counted;
    elements *= dims[i];
  }
  // A plain file's size is exact; the header has been read, so the file is
  // at least header-sized and the subtraction cannot wrap.
  const uint64_t plain_bytes = f.file_bytes() - (4 + 4 * uint64_t{ndims});
  if (!f.compressed() && plain_bytes < elements) {
    return DataLoss(f.path() + ": truncated: header declares " +
                    std::to_string(elements) + " data bytes but only " +
                    std::to_string(plain_bytes) + " follow it");
  }
  if (f.compressed() && elements / kMaxGzipRatio > f.file_bytes()) {
    return DataLoss(f.path() + ": truncated or corrupt: header declares " +
                    std::to_string(elements) + " data bytes, more than a " +
                    std::to_string(f.file_bytes()) + "-byte gzip file holds");
  }
  return dims;
}

}  // namespace fedjets::common::idx
