// Reading a whole file into memory, with errors that name the file.
#pragma once

#include <filesystem>
#include <string>

#include "common/base/status.h"

namespace fedjets::common {

// The bytes of the regular file at `path`. Errors start with the path:
// kNotFound "PATH: no such file", kInvalidArgument "PATH: not a regular
// file" (a directory, a device), kPermissionDenied or kInvalidArgument
// "PATH: cannot open: REASON", kDataLoss "PATH: read error".
Result<std::string> ReadFileToString(const std::filesystem::path& path);

}  // namespace fedjets::common
