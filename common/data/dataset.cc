#include "common/data/dataset.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

#include "common/data/idx_file.h"

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;
using idx::GzFile;
using idx::ReadHeader;
using idx::ReadPayload;

// Aborts with `what` when a caller breaks a documented precondition.
void CheckOrDie(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "fedjets: precondition failed: %s\n", what.c_str());
  std::abort();
}

// Pixel byte -> float in [0, 1], as every IDX loader scales it.
const std::array<float, 256>& PixelScale() {
  static const std::array<float, 256> scale = [] {
    std::array<float, 256> s{};
    for (int i = 0; i < 256; ++i) s[i] = static_cast<float>(i) / 255.0f;
    return s;
  }();
  return scale;
}

Status ReadImages(const std::string& path, Dataset* ds) {
  auto f = GzFile::Open(path);
  if (!f.ok()) return f.status();
  auto dims = ReadHeader(*f, 3, "images");
  if (!dims.ok()) return dims.status();
  const auto& d = *dims;
  const uint64_t n = d[0] * d[1] * d[2];
  const auto& scale = PixelScale();
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

// InvalidArgument for a negative num_classes_hint.
Status CheckHint(int64_t num_classes_hint) {
  if (num_classes_hint >= 0) return Status::Ok();
  return InvalidArgument("num_classes_hint is " +
                         std::to_string(num_classes_hint) +
                         "; use 0 to infer it from the labels");
}

Status CheckCounts(int64_t images, int64_t labels,
                   const std::string& images_path,
                   const std::string& labels_path) {
  if (images == labels) return Status::Ok();
  return InvalidArgument(images_path + " holds " + std::to_string(images) +
                         " images but " + labels_path + " holds " +
                         std::to_string(labels) +
                         " labels; are they from the same set?");
}

// Checks ds.labels against num_classes_hint (0: none) and sets num_classes
// (the hint, else the largest label + 1) and class_names.
Status SetClasses(const std::string& labels_path, int64_t num_classes_hint,
                  Dataset& ds) {
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
  ds.class_names = ClassNamesFor(ds.name, ds.num_classes);
  return Status::Ok();
}

// Reads the examples at `rows` (ascending, distinct, each below the
// header's count) of an IDX image file whose header has been read, scaled
// as ReadImages scales them, into `out`; stops after the last one.
Status ReadImageRows(GzFile& f, uint64_t row_bytes,
                     const std::vector<int64_t>& rows,
                     std::vector<float>* out) {
  out->assign(rows.size() * row_bytes, 0.0f);
  if (rows.empty()) return Status::Ok();
  const auto& scale = PixelScale();
  const uint64_t need = (static_cast<uint64_t>(rows.back()) + 1) * row_bytes;
  std::vector<unsigned char> buf(std::min<uint64_t>(need, idx::kChunkBytes));
  size_t next = 0;  // the row being filled
  for (uint64_t off = 0; off < need;) {
    const uint64_t want = std::min<uint64_t>(need - off, idx::kChunkBytes);
    auto got = f.Read(buf.data(), want);
    if (!got.ok()) return got.status();
    if (*got < want) {
      return DataLoss(f.path() + ": truncated: the data ends after " +
                      std::to_string(off + *got) + " bytes, before example " +
                      std::to_string((off + *got) / row_bytes) +
                      " that the header declares");
    }
    const uint64_t end = off + want;
    for (; next < rows.size(); ++next) {
      const uint64_t first = static_cast<uint64_t>(rows[next]) * row_bytes;
      const uint64_t last = first + row_bytes;
      if (first >= end) break;
      float* dst = out->data() + next * row_bytes;
      for (uint64_t i = std::max(first, off); i < std::min(last, end); ++i) {
        dst[i - first] = scale[buf[i - off]];
      }
      if (last > end) break;  // the row goes on in the next chunk
    }
    off = end;
  }
  return Status::Ok();
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
  FEDJETS_RETURN_IF_ERROR(CheckHint(num_classes_hint));
  Dataset ds;
  ds.name = name;
  FEDJETS_RETURN_IF_ERROR(ReadImages(images_path, &ds));
  FEDJETS_RETURN_IF_ERROR(ReadLabels(labels_path, &ds.labels));
  const int64_t n_images =
      static_cast<int64_t>(ds.features.size()) / ds.ExampleSize();
  FEDJETS_RETURN_IF_ERROR(
      CheckCounts(n_images, ds.size(), images_path, labels_path));
  FEDJETS_RETURN_IF_ERROR(SetClasses(labels_path, num_classes_hint, ds));
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

Result<Dataset> LoadIdxTrainRows(const std::string& dir,
                                 const std::string& name,
                                 const SelectRowsFn& select) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFound(dir + ": no such directory (expected IDX files " +
                    "train-images-idx3-ubyte[.gz] etc.)");
  }
  auto images_path = FindIdxFile(dir, "train-images-idx3-ubyte");
  if (!images_path.ok()) return images_path.status();
  auto labels_path = FindIdxFile(dir, "train-labels-idx1-ubyte");
  if (!labels_path.ok()) return labels_path.status();
  auto images = GzFile::Open(*images_path);
  if (!images.ok()) return images.status();
  auto dims = ReadHeader(*images, 3, "images");
  if (!dims.ok()) return dims.status();
  Dataset ds;
  ds.name = name;
  ds.example_shape = {1, static_cast<int64_t>((*dims)[1]),
                      static_cast<int64_t>((*dims)[2])};
  FEDJETS_RETURN_IF_ERROR(ReadLabels(*labels_path, &ds.labels));
  FEDJETS_RETURN_IF_ERROR(CheckCounts(static_cast<int64_t>((*dims)[0]),
                                      ds.size(), *images_path, *labels_path));
  FEDJETS_RETURN_IF_ERROR(
      SetClasses(*labels_path, name == "fashion-mnist" ? 10 : 0, ds));
  auto rows = select(ds);
  if (!rows.ok()) return rows.status();
  for (size_t i = 0; i < rows->size(); ++i) {
    const int64_t r = (*rows)[i];
    if (r < 0 || r >= ds.size() || (i > 0 && r <= (*rows)[i - 1])) {
      return InvalidArgument("the rows to load from " + *images_path +
                             " must be ascending, distinct and in [0, " +
                             std::to_string(ds.size()) + "); row " +
                             std::to_string(i) + " is " + std::to_string(r));
    }
  }
  FEDJETS_RETURN_IF_ERROR(ReadImageRows(
      *images, static_cast<uint64_t>(ds.ExampleSize()), *rows, &ds.features));
  std::vector<int64_t> labels;
  labels.reserve(rows->size());
  for (int64_t r : *rows) labels.push_back(ds.labels[r]);
  ds.labels = std::move(labels);
  return ds;
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
