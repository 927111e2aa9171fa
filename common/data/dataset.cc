#include "common/data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

namespace fedjets::common {
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

constexpr unsigned kChunkBytes = 1u << 20;

constexpr uint8_t kIdxUnsignedByte = 0x08;

// Aborts with `what` when a caller breaks a documented precondition.
void CheckOrDie(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "fedjets: precondition failed: %s\n", what.c_str());
  std::abort();
}

StatusCode StatusFromErrno(int err) {
  return err == EACCES ? StatusCode::kPermissionDenied
                       : StatusCode::kInvalidArgument;
}

// Owns a zlib file handle; zlib reads gzip and plain files alike.
class GzFile {
 public:
  static Result<GzFile> Open(const std::string& path) {
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
  Result<uint64_t> Read(void* dst, uint64_t n) {
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

 private:
  GzFile(gzFile f, std::string path, uint64_t file_bytes)
      : f_(f), path_(std::move(path)), file_bytes_(file_bytes) {}

  std::string ZlibError() {
    int errnum = Z_OK;
    const char* msg = gzerror(f_, &errnum);
    if (errnum == Z_ERRNO) return std::generic_category().message(errno);
    std::string s = (msg != nullptr && *msg != '\0') ? msg : "zlib error";
    return "corrupt or truncated gzip data (" + s + ")";
  }

  gzFile f_;
  std::string path_;
  uint64_t file_bytes_;
};

std::string Hex32(uint32_t v) {
  std::array<char, 16> buf{};
  std::snprintf(buf.data(), buf.size(), "0x%08x", v);
  return buf.data();
}

// Reads and validates an IDX header of unsigned bytes with `ndims` dims.
// `kind` ("images", "labels") makes mix-ups readable in the message.
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
    if (dims[i] != 0 && elements > kMaxIdxElements / dims[i]) {
      return InvalidArgument(f.path() + ": header declares more than " +
                             std::to_string(kMaxIdxElements) +
                             " elements; corrupt header or not a dataset "
                             "this loader supports");
    }
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

Status ReadImages(const std::string& path, Dataset* ds) {
  auto f = GzFile::Open(path);
  if (!f.ok()) return f.status();
  auto dims = ReadHeader(*f, 3, "images");
  if (!dims.ok()) return dims.status();
  const auto& d = *dims;
  const uint64_t n = d[0] * d[1] * d[2];
  std::array<float, 256> scale{};
  for (int i = 0; i < 256; ++i) scale[i] = static_cast<float>(i) / 255.0f;
  ds->example_shape = {1, static_cast<int64_t>(d[1]),
                       static_cast<int64_t>(d[2])};
  ds->features.clear();
  ds->features.reserve(n);
  return ReadPayload(*f, n, [&](const unsigned char* p, uint64_t len) {
    const size_t old = ds->features.size();
    ds->features.resize(old + len);  // within the reservation: no realloc
    float* out = ds->features.data() + old;
    for (uint64_t i = 0; i < len; ++i) out[i] = scale[p[i]];
  });
}

Status ReadLabels(const std::string& path, std::vector<int64_t>* labels) {
  auto f = GzFile::Open(path);
  if (!f.ok()) return f.status();
  auto dims = ReadHeader(*f, 1, "labels");
  if (!dims.ok()) return dims.status();
  labels->clear();
  labels->reserve((*dims)[0]);
  return ReadPayload(*f, (*dims)[0], [&](const unsigned char* p, uint64_t n) {
    labels->insert(labels->end(), p, p + n);
  });
}

std::vector<std::string> ClassNamesFor(const std::string& name,
                                       int64_t num_classes) {
  if (name == "fashion-mnist" && num_classes == 10) {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  std::vector<std::string> names;
  names.reserve(num_classes);
  for (int64_t c = 0; c < num_classes; ++c) names.push_back(std::to_string(c));
  return names;
}

// Returns <dir>/<base>.gz if present, else <dir>/<base>.
Result<std::string> FindIdxFile(const fs::path& dir, const std::string& base) {
  std::error_code ec;
  for (const std::string& candidate : {base + ".gz", base}) {
    fs::path p = dir / candidate;
    if (fs::exists(p, ec)) return p.string();
  }
  return NotFound((dir / base).string() + "(.gz): no such file in " +
                  dir.string());
}

}  // namespace

int64_t Dataset::ExampleSize() const {
  if (example_shape.empty()) return 0;
  int64_t n = 1;
  for (int64_t d : example_shape) n *= d;
  return n;
}

Result<Dataset> LoadIdx(const std::string& images_path,
                        const std::string& labels_path, const std::string& name,
                        int64_t num_classes_hint) {
  if (num_classes_hint < 0) {
    return InvalidArgument("num_classes_hint is " +
                           std::to_string(num_classes_hint) +
                           "; use 0 to infer it from the labels");
  }
  Dataset ds;
  ds.name = name;
  FEDJETS_RETURN_IF_ERROR(ReadImages(images_path, &ds));
  FEDJETS_RETURN_IF_ERROR(ReadLabels(labels_path, &ds.labels));
  const int64_t n_images =
      static_cast<int64_t>(ds.features.size()) / ds.ExampleSize();
  if (n_images != ds.size()) {
    return InvalidArgument(images_path + " holds " + std::to_string(n_images) +
                           " images but " + labels_path + " holds " +
                           std::to_string(ds.size()) +
                           " labels; are they from the same set?");
  }
  int64_t max_label = -1;
  for (int64_t i = 0; i < ds.size(); ++i) {
    const int64_t y = ds.labels[i];
    if (num_classes_hint > 0 && y >= num_classes_hint) {
      return InvalidArgument(labels_path + ": label " + std::to_string(y) +
                             " of example " + std::to_string(i) +
                             " is not below num_classes " +
                             std::to_string(num_classes_hint));
    }
    max_label = std::max(max_label, y);
  }
  ds.num_classes = num_classes_hint > 0 ? num_classes_hint : max_label + 1;
  ds.class_names = ClassNamesFor(name, ds.num_classes);
  return ds;
}

Result<TrainTest> LoadIdxDir(const std::string& dir, const std::string& name) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFound(dir + ": no such directory (expected IDX files " +
                    "train-images-idx3-ubyte[.gz] etc.)");
  }
  auto train_images = FindIdxFile(dir, "train-images-idx3-ubyte");
  auto train_labels = FindIdxFile(dir, "train-labels-idx1-ubyte");
  auto test_images = FindIdxFile(dir, "t10k-images-idx3-ubyte");
  auto test_labels = FindIdxFile(dir, "t10k-labels-idx1-ubyte");
  for (const auto* r :
       {&train_images, &train_labels, &test_images, &test_labels}) {
    if (!r->ok()) return r->status();
  }
  const int64_t hint = name == "fashion-mnist" ? 10 : 0;
  auto train = LoadIdx(*train_images, *train_labels, name, hint);
  if (!train.ok()) return train.status();
  auto test = LoadIdx(*test_images, *test_labels, name, train->num_classes);
  if (!test.ok()) return test.status();
  if (test->example_shape != train->example_shape) {
    return InvalidArgument(*test_images + ": image shape differs from " +
                           *train_images);
  }
  return TrainTest{std::move(train).value(), std::move(test).value()};
}

Dataset Subset(const Dataset& d, const std::vector<int64_t>& indices) {
  Dataset out;
  out.name = d.name;
  out.example_shape = d.example_shape;
  out.num_classes = d.num_classes;
  out.class_names = d.class_names;
  const int64_t k = d.ExampleSize();
  CheckOrDie(static_cast<int64_t>(d.features.size()) == d.size() * k,
             "Subset: dataset '" + d.name + "' has " +
                 std::to_string(d.features.size()) + " floats for " +
                 std::to_string(d.size()) + " examples of size " +
                 std::to_string(k));
  out.features.reserve(indices.size() * k);
  out.labels.reserve(indices.size());
  for (int64_t i : indices) {
    CheckOrDie(i >= 0 && i < d.size(),
               "Subset: index " + std::to_string(i) + " outside [0, " +
                   std::to_string(d.size()) + ") of dataset '" + d.name + "'");
    out.labels.push_back(d.labels[i]);
    auto first = d.features.begin() + i * k;
    out.features.insert(out.features.end(), first, first + k);
  }
  return out;
}

std::vector<int64_t> ClassCounts(const Dataset& d) {
  std::vector<int64_t> counts(std::max<int64_t>(d.num_classes, 0), 0);
  for (int64_t y : d.labels) {
    CheckOrDie(y >= 0 && y < d.num_classes,
               "ClassCounts: label " + std::to_string(y) + " outside [0, " +
                   std::to_string(d.num_classes) + ") in dataset '" + d.name +
                   "'");
    ++counts[y];
  }
  return counts;
}

}  // namespace fedjets::common
