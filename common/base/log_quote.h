// Quoting text that came from a peer or a file before it goes into a log
// line or an error message, so that it cannot forge lines or flood the log.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fedjets::common {

// `text` in double quotes, at most `max_bytes` of it (then "..."), with
// every byte outside printable ASCII, and the quote and backslash, escaped
// (\n, \xNN).
std::string QuoteForLog(std::string_view text, size_t max_bytes = 64);

}  // namespace fedjets::common
