#include "common/data/csv_reader.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "common/base/read_file.h"

namespace fedjets::common {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

CsvReader::CsvReader(std::string text, std::string path)
    : text_(std::move(text)), path_(std::move(path)) {
  if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
}

Result<CsvReader> CsvReader::Open(const std::string& path) {
  Result<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  return CsvReader(std::move(text).value(), path);
}

CsvReader CsvReader::FromString(std::string text, std::string path) {
  return CsvReader(std::move(text), std::move(path));
}

bool CsvReader::ConsumeLineEnd() {
  if (pos_ >= text_.size()) return false;
  if (text_[pos_] == '\r') {
    ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
  } else if (text_[pos_] == '\n') {
    ++pos_;
  } else {
    return false;
  }
  ++line_;
  return true;
}

Result<bool> CsvReader::Next(CsvRecord* record) {
  while (ConsumeLineEnd()) {
  }  // blank lines hold no record
  record->fields.clear();
  record->line = line_;
  if (pos_ >= text_.size()) return false;
  const size_t n = text_.size();
  for (;;) {  // one field per iteration
    size_t start = pos_;
    while (start < n && IsBlank(text_[start])) ++start;
    std::string field;
    if (start < n && text_[start] == '"') {
      const int64_t opened_on = line_;
      pos_ = start + 1;
      for (;;) {
        if (pos_ >= n) {
          return InvalidArgument(fmt::format(
              "{}, line {}: quoted field {} never closes (missing '\"')", path_,
              opened_on, record->fields.size() + 1));
        }
        const char c = text_[pos_];
        if (c == '"') {
          if (pos_ + 1 < n && text_[pos_ + 1] == '"') {
            field += '"';
            pos_ += 2;
            continue;
          }
          ++pos_;
          break;
        }
        if (c == '\n' ||
            (c == '\r' && !(pos_ + 1 < n && text_[pos_ + 1] == '\n'))) {
          ++line_;
        }
        field += c;
        ++pos_;
      }
      while (pos_ < n && IsBlank(text_[pos_])) ++pos_;
      if (pos_ < n && text_[pos_] != ',' && text_[pos_] != '\n' &&
          text_[pos_] != '\r') {
        return InvalidArgument(fmt::format(
            "{}, line {}, column {}: unexpected '{}' after a closing quote "
            "(a quote inside a quoted field is written \"\")",
            path_, line_, record->fields.size() + 1, text_[pos_]));
      }
    } else {
      pos_ = start;
      while (pos_ < n && text_[pos_] != ',' && text_[pos_] != '\n' &&
             text_[pos_] != '\r') {
        ++pos_;
      }
      size_t end = pos_;
      while (end > start && IsBlank(text_[end - 1])) --end;
      field.assign(text_, start, end - start);
    }
    record->fields.push_back(std::move(field));
    if (pos_ < n && text_[pos_] == ',') {
      ++pos_;
      continue;
    }
    ConsumeLineEnd();
    return true;
  }
}

std::optional<double> ParseCsvNumber(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  double v = 0.0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

}  // namespace fedjets::common
