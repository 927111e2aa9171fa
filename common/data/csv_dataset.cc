#include "common/data/csv_dataset.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "common/base/seeded_random.h"
#include "common/data/csv_reader.h"

namespace fedjets::common {
namespace {

// Looks labels up by exact text, or by value when every class is numeric.
class ClassIndex {
 public:
  explicit ClassIndex(const std::vector<std::string>& classes) {
    bool numeric = true;
    for (size_t i = 0; i < classes.size(); ++i) {
      by_text_.emplace(classes[i], static_cast<int64_t>(i));
      auto v = ParseCsvNumber(classes[i]);
      numeric = numeric && v.has_value();
      if (v) by_value_.emplace(*v, static_cast<int64_t>(i));
    }
    if (!numeric) by_value_.clear();
  }
  std::optional<int64_t> Find(const std::string& label) const {
    if (auto it = by_text_.find(label); it != by_text_.end()) return it->second;
    if (by_value_.empty()) return std::nullopt;
    auto v = ParseCsvNumber(label);
    if (!v) return std::nullopt;
    if (auto it = by_value_.find(*v); it != by_value_.end()) return it->second;
    return std::nullopt;
  }

 private:
  std::map<std::string, int64_t> by_text_;
  std::map<double, int64_t> by_value_;
};

}  // namespace

Result<CsvRows> ReadCsvRows(const std::string& path, const CsvOptions& o) {
  auto reader = CsvReader::Open(path);
  if (!reader.ok()) return reader.status();
  CsvRecord header;
  auto got = reader->Next(&header);
  if (!got.ok()) return got.status();
  if (!*got) {
    return InvalidArgument(path +
                           ": empty file (expected a header row naming the "
                           "columns, then one example per row)");
  }
  const auto& names = header.fields;
  std::set<std::string> seen;
  for (size_t c = 0; c < names.size(); ++c) {
    if (names[c].empty()) {
      return InvalidArgument(
          fmt::format("{}, line {}, column {}: empty column name in the header",
                      path, header.line, c + 1));
    }
    if (!seen.insert(names[c]).second) {
      return InvalidArgument(fmt::format(
          "{}, line {}, column {}: column name '{}' appears twice in the "
          "header",
          path, header.line, c + 1, names[c]));
    }
  }
  CsvRows out;
  out.path = path;
  size_t label_col = names.size() - 1;
  if (!o.label.empty()) {
    auto it = std::find(names.begin(), names.end(), o.label);
    if (it == names.end()) {
      return InvalidArgument(fmt::format(
          "{}, line {}: no label column '{}' in the header (columns: {}); "
          "set --data-option label=COLUMN",
          path, header.line, o.label, fmt::join(names, ", ")));
    }
    label_col = static_cast<size_t>(it - names.begin());
  }
  out.label_column = static_cast<int64_t>(label_col) + 1;
  std::vector<bool> is_feature(names.size(), true);
  is_feature[label_col] = false;
  for (const auto& col : o.ignore) {
    auto it = std::find(names.begin(), names.end(), col);
    if (it == names.end()) {
      return InvalidArgument(fmt::format(
          "{}, line {}: --data-option ignore names column '{}', which the "
          "header lacks (columns: {})",
          path, header.line, col, fmt::join(names, ", ")));
    }
    if (static_cast<size_t>(it - names.begin()) == label_col) {
      return InvalidArgument(fmt::format(
          "{}: column '{}' is the label column and cannot be ignored", path,
          col));
    }
    is_feature[it - names.begin()] = false;
  }
  for (size_t c = 0; c < names.size(); ++c) {
    if (is_feature[c]) out.feature_names.push_back(names[c]);
  }
  if (out.feature_names.empty()) {
    return InvalidArgument(
        fmt::format("{}: no feature columns (columns: {}; label: '{}')", path,
                    fmt::join(names, ", "), names[label_col]));
  }
  CsvRecord rec;
  for (;;) {
    auto more = reader->Next(&rec);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (rec.fields.size() != names.size()) {
      return InvalidArgument(fmt::format(
          "{}, line {}: row has {} field(s) but the header has {} columns",
          path, rec.line, rec.fields.size(), names.size()));
    }
    for (size_t c = 0; c < names.size(); ++c) {
      if (!is_feature[c]) continue;
      auto v = ParseCsvNumber(rec.fields[c]);
      if (!v) {
        return InvalidArgument(fmt::format(
            "{}, line {}, column {} ('{}'): '{}' is not a finite number "
            "(fix the value, or drop the column with --data-option "
            "ignore={})",
            path, rec.line, c + 1, names[c], rec.fields[c], names[c]));
      }
      out.features.push_back(*v);
    }
    if (rec.fields[label_col].empty()) {
      return InvalidArgument(
          fmt::format("{}, line {}, column {} ('{}'): empty label", path,
                      rec.line, label_col + 1, names[label_col]));
    }
    out.labels.push_back(std::move(rec.fields[label_col]));
    out.lines.push_back(rec.line);
  }
  if (out.labels.empty()) {
    return InvalidArgument(path + ": no data rows after the header");
  }
  return out;
}

Result<std::vector<std::string>> ResolveClasses(
    const std::vector<const CsvRows*>& files, const CsvOptions& o) {
  if (!o.classes.empty()) {
    const ClassIndex index(o.classes);
    for (const CsvRows* f : files) {
      for (int64_t r = 0; r < f->rows(); ++r) {
        if (!index.Find(f->labels[r])) {
          return InvalidArgument(fmt::format(
              "{}, line {}, column {}: label '{}' is not one of the classes "
              "given by --data-option classes ({})",
              f->path, f->lines[r], f->label_column, f->labels[r],
              fmt::join(o.classes, ", ")));
        }
      }
    }
    return o.classes;
  }
  bool numeric = true;
  std::set<std::string> texts;
  std::map<double, std::string> values;  // value -> first text seen
  for (const CsvRows* f : files) {
    for (const auto& label : f->labels) {
      texts.insert(label);
      if (!numeric) continue;
      if (auto v = ParseCsvNumber(label)) {
        values.emplace(*v, label);
      } else {
        numeric = false;
      }
    }
  }
  std::vector<std::string> classes;
  if (numeric) {
    for (auto& [v, text] : values) classes.push_back(text);
  } else {
    classes.assign(texts.begin(), texts.end());
  }
  return classes;
}

Standardizer IdentityStandardizer(size_t num_features) {
  return {std::vector<double>(num_features, 0.0),
          std::vector<double>(num_features, 1.0)};
}

Standardizer FitStandardizer(const std::vector<const CsvRows*>& files) {
  const size_t f = files.empty() ? 0 : files.front()->feature_names.size();
  Standardizer st = IdentityStandardizer(f);
  std::vector<double> sum(f, 0.0), sq(f, 0.0);
  double n = 0;
  for (const CsvRows* file : files) {  // two passes: exact enough, stable
    for (size_t i = 0; i < file->features.size(); ++i) {
      sum[i % f] += file->features[i];
    }
    n += static_cast<double>(file->rows());
  }
  if (n == 0) return st;
  for (size_t c = 0; c < f; ++c) st.mean[c] = sum[c] / n;
  for (const CsvRows* file : files) {
    for (size_t i = 0; i < file->features.size(); ++i) {
      const double d = file->features[i] - st.mean[i % f];
      sq[i % f] += d * d;
    }
  }
  for (size_t c = 0; c < f; ++c) {
    const double sd = std::sqrt(sq[c] / n);
    // A constant column (up to rounding) carries no information; std 1
    // maps it to 0 instead of dividing by ~0.
    st.std[c] = sd > 1e-12 * std::max(1.0, std::abs(st.mean[c])) ? sd : 1.0;
  }
  return st;
}

CsvRows SelectRows(const CsvRows& file, const std::vector<int64_t>& rows) {
  CsvRows out;
  out.path = file.path;
  out.feature_names = file.feature_names;
  out.label_column = file.label_column;
  const size_t f = file.feature_names.size();
  for (int64_t r : rows) {
    out.features.insert(out.features.end(), file.features.begin() + r * f,
                        file.features.begin() + (r + 1) * f);
    out.labels.push_back(file.labels[r]);
    out.lines.push_back(file.lines[r]);
  }
  return out;
}

std::vector<int64_t> AllRows(const CsvRows& file) {
  std::vector<int64_t> rows(file.rows());
  for (int64_t i = 0; i < file.rows(); ++i) rows[i] = i;
  return rows;
}

Result<Dataset> ToDataset(const CsvRows& file, const std::vector<int64_t>& rows,
                          const std::vector<std::string>& classes,
                          const Standardizer& st, const std::string& name) {
  const size_t f = file.feature_names.size();
  Dataset d;
  d.name = name;
  d.example_shape = {static_cast<int64_t>(f)};
  d.num_classes = static_cast<int64_t>(classes.size());
  d.class_names = classes;
  d.features.reserve(rows.size() * f);
  d.labels.reserve(rows.size());
  const ClassIndex index(classes);
  for (int64_t r : rows) {
    auto id = index.Find(file.labels[r]);
    if (!id) {
      return InvalidArgument(fmt::format(
          "{}, line {}, column {}: label '{}' is not one of the classes ({})",
          file.path, file.lines[r], file.label_column, file.labels[r],
          fmt::join(classes, ", ")));
    }
    d.labels.push_back(*id);
    for (size_t c = 0; c < f; ++c) {
      d.features.push_back(static_cast<float>(
          (file.features[r * f + c] - st.mean[c]) / st.std[c]));
    }
  }
  return d;
}

SplitIndices StratifiedSplit(const std::vector<int64_t>& labels,
                             int64_t num_classes, double test_fraction,
                             uint64_t seed) {
  std::vector<std::vector<int64_t>> by_class(std::max<int64_t>(num_classes, 0));
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= 0 && labels[i] < num_classes) {
      by_class[labels[i]].push_back(static_cast<int64_t>(i));
    }
  }
  std::mt19937_64 rng(seed);
  SplitIndices out;
  for (auto& items : by_class) {
    const int64_t n = static_cast<int64_t>(items.size());
    const int64_t want = static_cast<int64_t>(
        std::floor(static_cast<double>(n) * test_fraction + 0.5));
    const int64_t take =
        std::clamp<int64_t>(want, 0, std::max<int64_t>(n - 1, 0));
    Shuffle(items, rng);
    out.test.insert(out.test.end(), items.begin(), items.begin() + take);
    out.train.insert(out.train.end(), items.begin() + take, items.end());
  }
  std::sort(out.train.begin(), out.train.end());
  std::sort(out.test.begin(), out.test.end());
  return out;
}

Status CheckEveryClassPresent(const Dataset& d, const std::string& what) {
  const std::vector<int64_t> counts = ClassCounts(d);
  for (int64_t c = 0; c < d.num_classes; ++c) {
    if (counts[c] == 0) {
      return InvalidArgument(fmt::format(
          "class '{}' has no examples in {}; every class needs training "
          "examples (fix the data, or list only present classes in "
          "--data-option classes)",
          d.class_names[c], what));
    }
  }
  return Status::Ok();
}

Result<TrainTest> LoadCsv(const DatasetSource& source) {
  auto o =
      CsvOptionsFromSource(source, {"label", "ignore", "classes", "test",
                                    "test_fraction", "seed", "standardize"});
  if (!o.ok()) return o.status();
  auto train_rows = ReadCsvRows(source.path, *o);
  if (!train_rows.ok()) return train_rows.status();
  std::optional<CsvRows> test_rows;
  if (!o->test_path.empty()) {
    auto t = ReadCsvRows(o->test_path, *o);
    if (!t.ok()) return t.status();
    if (t->feature_names != train_rows->feature_names) {
      return InvalidArgument(
          fmt::format("{}: feature columns ({}) differ from those of {} ({})",
                      o->test_path, fmt::join(t->feature_names, ", "),
                      source.path, fmt::join(train_rows->feature_names, ", ")));
    }
    test_rows = std::move(t).value();
  }
  std::vector<const CsvRows*> all = {&*train_rows};
  if (test_rows) all.push_back(&*test_rows);
  auto classes = ResolveClasses(all, *o);
  if (!classes.ok()) return classes.status();
  const std::string name = std::filesystem::path(source.path).stem().string();
  const Standardizer none =
      IdentityStandardizer(train_rows->feature_names.size());

  // Labels first (unstandardised), to split; then standardise with the
  // train part's statistics only.
  auto labelled =
      ToDataset(*train_rows, AllRows(*train_rows), *classes, none, name);
  if (!labelled.ok()) return labelled.status();
  SplitIndices split;
  if (test_rows) {
    split.train = AllRows(*train_rows);
  } else {
    split = StratifiedSplit(labelled->labels, labelled->num_classes,
                            o->test_fraction, o->seed);
  }
  const CsvRows train_part = SelectRows(*train_rows, split.train);
  const Standardizer st =
      o->standardize ? FitStandardizer({&train_part}) : none;
  TrainTest out;
  auto train = ToDataset(*train_rows, split.train, *classes, st, name);
  if (!train.ok()) return train.status();
  out.train = std::move(train).value();
  auto test =
      test_rows ? ToDataset(*test_rows, AllRows(*test_rows), *classes, st, name)
                : ToDataset(*train_rows, split.test, *classes, st, name);
  if (!test.ok()) return test.status();
  out.test = std::move(test).value();
  FEDJETS_RETURN_IF_ERROR(
      CheckEveryClassPresent(out.train, "the train split of " + source.path));
  return out;
}

}  // namespace fedjets::common
