#include "common/base/posix_error.h"

#include <cerrno>
#include <system_error>
#include <utility>

namespace fedjets::common {

Status PosixError(const std::string& what, int err) {
  std::string message = what + ": " + std::generic_category().message(err);
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDenied(std::move(message));
    case ENOENT:
    case ENOTDIR:
      return NotFound(std::move(message));
    default:
      return Unavailable(std::move(message));
  }
}

}  // namespace fedjets::common
