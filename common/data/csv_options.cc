// CsvOptionsFromSource (declared in csv_dataset.h): --data-option parsing
// for the csv and csv-folder loaders.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "common/data/csv_dataset.h"
#include "common/data/csv_reader.h"

namespace fedjets::common {
namespace {

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma - start);
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

Result<CsvOptions> CsvOptionsFromSource(
    const DatasetSource& source, const std::vector<std::string>& allowed) {
  CsvOptions o;
  o.seed = source.seed;
  // Named references, not a structured binding: clang 14 (the sanitizer
  // build) cannot capture a structured binding in the lambda below.
  for (const auto& option : source.options) {
    const std::string& key = option.first;
    const std::string& value = option.second;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return InvalidArgument(
          fmt::format("dataset '{}': unknown --data-option '{}'; accepted: {}",
                      source.name, key, fmt::join(allowed, ", ")));
    }
    auto bad = [&](const std::string& why) {
      return InvalidArgument(
          fmt::format("dataset '{}': --data-option {}={}: {}", source.name, key,
                      value, why));
    };
    if (key == "label") {
      o.label = value;
    } else if (key == "ignore") {
      o.ignore = SplitList(value);
    } else if (key == "classes") {
      o.classes = SplitList(value);
      if (o.classes.empty()) return bad("expected a comma-separated list");
      std::set<std::string> seen;
      for (const auto& c : o.classes) {
        if (!seen.insert(c).second) return bad("class '" + c + "' is repeated");
      }
    } else if (key == "test") {
      o.test_path = value;
    } else if (key == "test_fraction") {
      auto v = ParseCsvNumber(value);
      if (!v || *v <= 0.0 || *v >= 1.0) {
        return bad("expected a number strictly between 0 and 1");
      }
      o.test_fraction = *v;
    } else if (key == "seed") {
      uint64_t v = 0;
      auto [ptr, ec] =
          std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || ptr != value.data() + value.size() ||
          value.empty()) {
        return bad("expected a non-negative integer");
      }
      o.seed = v;
    } else if (key == "standardize") {
      if (value == "true" || value == "1") {
        o.standardize = true;
      } else if (value == "false" || value == "0") {
        o.standardize = false;
      } else {
        return bad("expected true or false");
      }
    }
  }
  return o;
}

}  // namespace fedjets::common
