// Tabular datasets from CSV files: the "csv" loader (one file, or a train
// and a test file) and the building blocks that the per-client "csv-folder"
// loader (common/csv_folder.h) shares with it.
//
// File format (see common/csv_reader.h for quoting): a header row naming
// the columns, then one example per row. One column holds the label; every
// other column, except those named by `ignore`, is a numeric feature.
//
// Label to class id, stable and documented:
//   - `classes` given: ids follow that list; a label not in it is an error.
//   - else, when every label is a number: the distinct values sorted
//     numerically ("2" < "10"; "1" and "1.0" are the same class, named by
//     the text first seen);
//   - else: the distinct label strings sorted bytewise (std::string <).
//   The labels of the train and the test data together define the classes.
// Features are standardised per column, (x - mean) / std with the mean and
// population std of the TRAIN split only (a constant column gets std 1),
// unless standardize=false.
//
// Errors are InvalidArgument (NotFound for a missing file) and name the
// file, line and column: an empty file, a missing label column, a row with
// the wrong number of fields, a feature that is not a finite number, an
// empty label, a label outside `classes`, a class without train examples.
// Nothing is skipped silently. All functions are thread-safe (no shared
// state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/data/dataset.h"
#include "common/data/dataset_source.h"

namespace fedjets::common {

struct CsvOptions {
  std::string label;  // label column name; empty = last column
  std::vector<std::string>
      ignore;  // columns that are neither feature nor label
  std::vector<std::string> classes;  // explicit class order; empty = derived
  std::string test_path;             // separate test file; empty = split
  double test_fraction = 0.2;        // of each class, when splitting
  bool standardize = true;
  uint64_t seed = 1;  // of the stratified split
};

// Reads --data-option keys: label, ignore (comma list), classes (comma
// list), test, test_fraction (in (0, 1)), seed (of the split; default
// source.seed), standardize (true/false). `allowed` limits the accepted keys (a
// loader that does not use a key rejects it); an unknown key is an error
// listing the accepted ones.
Result<CsvOptions> CsvOptionsFromSource(
    const DatasetSource& source, const std::vector<std::string>& allowed);

// One CSV file parsed, before labels become class ids.
struct CsvRows {
  std::string path;
  std::vector<std::string> feature_names;
  std::vector<double> features;     // row-major, rows * feature_names.size()
  std::vector<std::string> labels;  // raw label text per row
  std::vector<int64_t> lines;       // file line of each row
  int64_t label_column = 0;         // 1-based column of the label
  int64_t rows() const { return static_cast<int64_t>(labels.size()); }
};

// Parses `path` with the label and ignore settings of `options`.
Result<CsvRows> ReadCsvRows(const std::string& path, const CsvOptions& options);

// The class names in id order for rows drawn from `files` (see the header
// comment for the rule). Errors name the file and line of a bad label.
Result<std::vector<std::string>> ResolveClasses(
    const std::vector<const CsvRows*>& files, const CsvOptions& options);

// Per-column mean and std (population; 1 where the column is constant).
struct Standardizer {
  std::vector<double> mean;
  std::vector<double> std;
};
Standardizer FitStandardizer(const std::vector<const CsvRows*>& files);
Standardizer IdentityStandardizer(size_t num_features);

// The rows of `file` at indices `rows`, in that order, as a Dataset named
// `name`: labels mapped to ids by `classes` (by exact text, or by numeric
// value when every class name is a number), features standardised with
// `st`. Errors name the file, line and column of a label outside `classes`.
Result<Dataset> ToDataset(const CsvRows& file, const std::vector<int64_t>& rows,
                          const std::vector<std::string>& classes,
                          const Standardizer& st, const std::string& name);

// The rows of `file` at indices `rows` (each in [0, rows())), in order.
CsvRows SelectRows(const CsvRows& file, const std::vector<int64_t>& rows);

// Every row index of `file`, 0..rows()-1.
std::vector<int64_t> AllRows(const CsvRows& file);

// A seeded stratified split of labels (class ids): of each class's n
// examples, round(n * test_fraction) go to test, clamped to [0, n - 1] so
// that train keeps at least one; which ones is a seeded shuffle
// (std::mt19937_64 with this module's own Fisher-Yates, identical on every
// platform). Both index lists are ascending.
struct SplitIndices {
  std::vector<int64_t> train;
  std::vector<int64_t> test;
};
SplitIndices StratifiedSplit(const std::vector<int64_t>& labels,
                             int64_t num_classes, double test_fraction,
                             uint64_t seed);

// InvalidArgument naming `what` and the first class (by name) that has no
// example in `d`.
Status CheckEveryClassPresent(const Dataset& d, const std::string& what);

// The "csv" loader: source.path is the CSV file; see the header comment.
Result<TrainTest> LoadCsv(const DatasetSource& source);

}  // namespace fedjets::common
