// In-memory labelled datasets and a loader for IDX files (the MNIST family).
//
// A Dataset is a plain value: it owns its features and labels, is cheap to
// move, and is thread-compatible (concurrent const access is safe; any
// mutation needs external synchronisation). The loader functions keep no
// shared state and may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common {

struct Dataset {
  std::string name;
  std::vector<int64_t> example_shape;  // e.g. {1, 28, 28} images, {F} tabular
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // size num_classes
  std::vector<float> features;  // row-major, size() * ExampleSize() floats
  std::vector<int64_t> labels;  // each in [0, num_classes)

  // Number of examples.
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  // Floats per example: the product of example_shape, or 0 while the shape
  // is unset (an empty shape means "no features yet", not a scalar).
  int64_t ExampleSize() const;
};

// Loads an IDX image file (magic 0x00000803: unsigned bytes, dims N, R, C)
// and its IDX label file (magic 0x00000801, dim N). Either may be gzipped or
// plain; zlib detects which. Pixels are scaled to [0, 1] and example_shape is
// {1, R, C}. num_classes is num_classes_hint when it is > 0, else the largest
// label + 1. Class names are the Fashion-MNIST names when name is
// "fashion-mnist" and there are 10 classes, else "0", "1", ...
//
// Never crashes on bad input: header dimensions are checked against a size
// limit and against the file size before anything is allocated, and every
// read is checked. Errors name the file and what is wrong:
//   NotFound         a file does not exist;
//   PermissionDenied a file cannot be read for lack of permission;
//   InvalidArgument  bad magic or wrong kind of IDX file, zero or oversized
//                    dimensions, image/label count mismatch, a label
//                    >= num_classes_hint, num_classes_hint < 0;
//   DataLoss         fewer (or more) data bytes than the header declares, or a
//                    corrupt gzip stream.
Result<Dataset> LoadIdx(const std::string& images_path,
                        const std::string& labels_path, const std::string& name,
                        int64_t num_classes_hint = 0);

struct TrainTest {
  Dataset train;
  Dataset test;
};

// Loads <dir>/train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each with or without a
// ".gz" suffix (".gz" preferred when both exist). The test set is held to the
// train set's num_classes so that both agree; "fashion-mnist" is held to 10.
Result<TrainTest> LoadIdxDir(const std::string& dir, const std::string& name);

// Picks the rows of a dataset to load, given the dataset with its labels and
// metadata but no features: ascending, distinct, each in [0, size()).
using SelectRowsFn =
    std::function<Result<std::vector<int64_t>>(const Dataset& labels_only)>;

// The train split of LoadIdxDir(dir, name) with only the examples at the
// rows `select` picks, equal to Subset(LoadIdxDir(dir, name)->train, rows)
// bit for bit. It reads the labels and the image file's header, then the
// images only up to the last row picked, converts only the rows picked,
// and never opens the test split: a client holding one shard of the
// training split reads little more than its shard. Errors: those of LoadIdx
// for what it reads (a truncation after the last row picked goes
// unnoticed), InvalidArgument when `select`'s rows are not ascending and
// distinct within range, and `select`'s own errors.
Result<Dataset> LoadIdxTrainRows(const std::string& dir,
                                 const std::string& name,
                                 const SelectRowsFn& select);

// Returns a copy of `d` holding only the examples at `indices`, in that order
// (repeats allowed). Metadata is copied unchanged. An index outside
// [0, d.size()) is a caller bug: it aborts with a message rather than
// returning an error, because indices come from code (partitioners), not
// from users.
Dataset Subset(const Dataset& d, const std::vector<int64_t>& indices);

// result[c] = number of examples with label c; size d.num_classes. A label
// outside [0, num_classes) breaks the Dataset invariant and aborts.
std::vector<int64_t> ClassCounts(const Dataset& d);

}  // namespace fedjets::common
