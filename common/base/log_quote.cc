#include "common/base/log_quote.h"

#include <fmt/format.h>

#include <algorithm>

namespace fedjets::common {

std::string QuoteForLog(std::string_view text, size_t max_bytes) {
  std::string out = "\"";
  const size_t shown = std::min(text.size(), max_bytes);
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (shown < text.size()) out += "...";
  return out;
}

}  // namespace fedjets::common
