// PosixError: turns an errno value from a system call into a Status.
#pragma once

#include <string>

#include "common/base/status.h"

namespace fedjets::common {

// Status "`what`: <strerror(err)>" with a code that carries the retry policy:
// kPermissionDenied for EACCES/EPERM/EROFS, kNotFound for ENOENT/ENOTDIR,
// kUnavailable otherwise (a full disk, an I/O error: retry may work).
// `what` names the file or program and the action, e.g. "cannot write x.pt".
Status PosixError(const std::string& what, int err);

}  // namespace fedjets::common
