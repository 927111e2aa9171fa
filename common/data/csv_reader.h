// A minimal RFC 4180 CSV record reader.
//
// Fields are separated by commas. A field that starts with a double quote
// (after optional spaces) is quoted: it may hold commas, line breaks and
// doubled quotes ("" reads as "), and only spaces may follow its closing
// quote. Unquoted fields are taken literally, with surrounding spaces and
// tabs trimmed. Lines end with LF, CRLF or a lone CR. Blank lines (no
// characters at all) hold no record and are skipped. A UTF-8 byte-order mark
// at the start of the file is ignored.
//
// A CsvReader owns the whole file text; it is movable, not copyable, and
// thread-compatible (one thread at a time).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common {

struct CsvRecord {
  std::vector<std::string> fields;
  int64_t line = 0;  // 1-based line on which the record starts
};

class CsvReader {
 public:
  // Reads the file at `path` into memory. NotFound, PermissionDenied, or
  // InvalidArgument (a directory, unreadable file) name the path.
  static Result<CsvReader> Open(const std::string& path);
  // Reads from `text`; `path` only names the source in error messages.
  static CsvReader FromString(std::string text, std::string path);

  // Reads the next record into *record. Returns false at the end of the
  // text. InvalidArgument, naming the path and line, for a quoted field that
  // never closes or a character other than a space after a closing quote.
  Result<bool> Next(CsvRecord* record);

  const std::string& path() const { return path_; }

 private:
  CsvReader(std::string text, std::string path);

  // Consumes one line ending at pos_ (LF, CRLF or CR) if there is one.
  bool ConsumeLineEnd();

  std::string text_;
  std::string path_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

// A CSV field as a finite number (std::from_chars syntax, plus an optional
// leading '+'), or nullopt for anything else, "nan" and "inf" included.
std::optional<double> ParseCsvNumber(std::string_view field);

}  // namespace fedjets::common
