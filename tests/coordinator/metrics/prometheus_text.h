// Reading values back from Prometheus' text exposition format, for tests.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace fedjets::testutil {

// The value of the sample whose series is exactly `series` (a metric name,
// with its labels as the exposition prints them: name{label="value"}), or
// nothing when `text` has no such line.
inline std::optional<double> SampleValue(const std::string& text,
                                         std::string_view series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() &&
        line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

}  // namespace fedjets::testutil
