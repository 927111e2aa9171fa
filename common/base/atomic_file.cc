#include "common/base/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <exception>
#include <string>

#include "common/base/posix_error.h"

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;

// A temp name already taken (left by a killed process whose pid has been
// reused) is skipped; this bounds how many are tried.
constexpr int kMaxTempNameTries = 100;

// Owns a temp file until it is published: removes it unless Release()d.
class TempFile {
 public:
  TempFile() = default;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!path_.empty()) unlink(path_.c_str());
  }

  // Creates `<target>.tmp-<pid>-<n>`, empty and closed. With exact_mode the
  // file starts as 0600 and is then set to `mode` exactly.
  Status Create(const fs::path& target, const AtomicWriteOptions& options) {
    static std::atomic<unsigned> counter{0};
    const mode_t create_mode = options.mode ? 0600 : 0666;
    for (int tries = 0; tries < kMaxTempNameTries; ++tries) {
      std::string name = fmt::format("{}.tmp-{}-{}", target.string(),
                                     static_cast<long>(getpid()), counter++);
      int fd = open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                    create_mode);
      if (fd < 0 && errno == EEXIST) continue;
      if (fd < 0) {
        return PosixError(
            "cannot create a temp file to write " + target.string(), errno);
      }
      path_ = std::move(name);
      int err = 0;
      if (options.mode && fchmod(fd, *options.mode) != 0) err = errno;
      if (close(fd) != 0 && err == 0) err = errno;
      if (err != 0) {
        return PosixError("cannot set the mode of " + target.string(), err);
      }
      return Status::Ok();
    }
    return Unavailable("cannot find a free temp file name to write " +
                       target.string() + "; remove its stale .tmp-* files");
  }

  const std::string& path() const { return path_; }
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

Status WriteAll(const fs::path& temp, const fs::path& target,
                std::string_view data) {
  int fd = open(temp.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return PosixError("cannot write " + target.string(), errno);
  int err = 0;
  for (size_t done = 0; done < data.size() && err == 0;) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno != EINTR) err = errno;
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (close(fd) != 0 && err == 0) err = errno;
  if (err != 0) return PosixError("cannot write " + target.string(), err);
  return Status::Ok();
}

// Flushes the file's data to the disk (the writer may have closed it).
Status SyncFile(const std::string& temp, const fs::path& target) {
  int fd = open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("cannot reopen " + target.string(), errno);
  int err = fsync(fd) != 0 ? errno : 0;
  close(fd);
  if (err != 0) return PosixError("cannot flush " + target.string(), err);
  return Status::Ok();
}

// Makes the rename or link itself durable.
Status SyncDirectory(const fs::path& target) {
  const fs::path dir =
      target.has_parent_path() ? target.parent_path() : fs::path(".");
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return PosixError("cannot open directory " + dir.string() + " to flush " +
                          target.string(),
                      errno);
  }
  // EINVAL: the file system cannot sync directories; nothing more to do.
  int err = fsync(fd) != 0 && errno != EINVAL ? errno : 0;
  close(fd);
  if (err != 0) {
    return PosixError("cannot flush directory " + dir.string() +
                          " after writing " + target.string(),
                      err);
  }
  return Status::Ok();
}

// Puts the temp file in place of `target`. Without overwrite the temp file is
// hard-linked, which fails atomically with EEXIST if `target` exists.
Status Publish(TempFile& temp, const fs::path& target, bool overwrite) {
  if (overwrite) {
    if (rename(temp.path().c_str(), target.c_str()) != 0) {
      return PosixError("cannot replace " + target.string(), errno);
    }
    temp.Release();
    return Status::Ok();
  }
  if (link(temp.path().c_str(), target.c_str()) != 0) {
    if (errno == EEXIST) {
      return FailedPrecondition("refusing to overwrite existing " +
                                target.string());
    }
    return PosixError("cannot create " + target.string(), errno);
  }
  return Status::Ok();  // ~TempFile removes the temp name
}

}  // namespace

Status WriteFileAtomically(const fs::path& path, std::string_view data,
                           const AtomicWriteOptions& options) {
  return WriteFileAtomicallyWith(
      path, [&](const fs::path& temp) { return WriteAll(temp, path, data); },
      options);
}

Status WriteFileAtomicallyWith(const fs::path& path,
                               const TempFileWriter& write,
                               const AtomicWriteOptions& options) {
  TempFile temp;
  FEDJETS_RETURN_IF_ERROR(temp.Create(path, options));
  try {
    FEDJETS_RETURN_IF_ERROR(write(temp.path()));
  } catch (const std::exception& e) {
    return Unavailable("cannot write " + path.string() + ": " + e.what());
  }
  FEDJETS_RETURN_IF_ERROR(SyncFile(temp.path(), path));
  FEDJETS_RETURN_IF_ERROR(Publish(temp, path, options.overwrite));
  return SyncDirectory(path);
}

}  // namespace fedjets::common
