#include "common/base/read_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

namespace fedjets::common {

namespace fs = std::filesystem;

Result<std::string> ReadFileToString(const fs::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) {
    return NotFound(name + ": no such file");
  }
  if (ec) return InvalidArgument(name + ": " + ec.message());
  if (!fs::is_regular_file(st)) {
    return InvalidArgument(name + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string why = std::strerror(err);
    return err == EACCES ? PermissionDenied(name + ": cannot open: " + why)
                         : InvalidArgument(name + ": cannot open: " + why);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return DataLoss(name + ": read error");
  return std::move(text).str();
}

}  // namespace fedjets::common
