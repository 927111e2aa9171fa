// Atomic file writes: a reader of the target sees either the old file or the
// whole new one, never part of it, and once a write returns OK the new file
// survives a crash (its data and its directory entry are fsynced).
//
// The content is written to a temp file in the target's directory, named
// `<target>.tmp-<pid>-<n>`, which is then renamed over the target (or, when
// overwriting is not allowed, hard-linked to it, which fails if the target
// exists). On any error the temp file is removed and the target is left as it
// was. A process killed mid-write may leave a temp file behind; nothing reads
// it. Functions are thread-safe: concurrent writers, in this process or
// others, each use their own temp file, and the last rename wins.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>

#include "common/base/status.h"

namespace fedjets::common {

struct AtomicWriteOptions {
  // Exact permission bits of the new file, whatever the umask (e.g. 0600 for
  // a private key; the file is never more open than 0600 before that).
  // Unset: 0666 less the umask, as for a file made by std::ofstream.
  std::optional<mode_t> mode;
  // When false, an existing target is never replaced: the write fails with
  // kFailedPrecondition, also if the target appeared while writing.
  bool overwrite = true;
};

// Writes `data` as the content of `path`. The directory must exist. Errors
// name `path` and the system's reason: kNotFound for a missing directory,
// kPermissionDenied, kFailedPrecondition (exists and !overwrite), otherwise
// kUnavailable.
Status WriteFileAtomically(const std::filesystem::path& path,
                           std::string_view data,
                           const AtomicWriteOptions& options = {});

// Writes the whole content of the file at `temp` (already created, empty) and
// returns OK, or an error naming what went wrong. It may throw; exceptions are
// caught and returned as kUnavailable.
using TempFileWriter = std::function<Status(const std::filesystem::path& temp)>;

// As WriteFileAtomically, for writers that want a file name rather than bytes
// (torch::save, which also records the file's name less its last extension in
// the archive; that is the target's name, given the temp file's naming).
// `write` is called once, on this thread.
Status WriteFileAtomicallyWith(const std::filesystem::path& path,
                               const TempFileWriter& write,
                               const AtomicWriteOptions& options = {});

}  // namespace fedjets::common
