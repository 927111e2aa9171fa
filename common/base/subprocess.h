// Child processes, started without a shell: argv goes to the program as is,
// and argv[0] is looked up in PATH when it has no '/'.
//
// The waiting functions wait for the given pid only, never for another child
// of this process, and install no signal handlers. All functions are safe to
// call from several threads: descriptors opened here are close-on-exec, so a
// child started by another thread does not inherit them.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common {

struct SpawnOptions {
  // When set, the child's stdout and stderr both go to this file (created
  // 0644 if missing). Empty: the child shares this process's stdout/stderr.
  std::string log_file;
  // Empty log_file first instead of appending to it.
  bool truncate_log = false;
};

// Starts `argv` (argv[0] is the program) and returns the child's pid, which
// the caller must wait for. Errors name the program or the log file:
// kNotFound when the program does not exist, kPermissionDenied when it may
// not be run, kInvalidArgument for an empty argv.
Result<pid_t> Spawn(const std::vector<std::string>& argv,
                    const SpawnOptions& options = {});

// Waits for the child `pid` to end and returns its exit status as a shell
// reports it: the exit code, or 128 + the number of the signal that ended
// it. Interrupted waits are resumed.
Result<int> WaitForExit(pid_t pid);

// As WaitForExit, without blocking: nullopt while `pid` is still running.
Result<std::optional<int>> PollExit(pid_t pid);

// Spawn, then WaitForExit.
Result<int> RunProcess(const std::vector<std::string>& argv,
                       const SpawnOptions& options = {});

struct CapturedRun {
  int exit_code = 0;   // as WaitForExit returns it
  std::string output;  // stdout and stderr, interleaved as written
};

// Runs `argv` to its end with stdin from /dev/null, capturing its output.
Result<CapturedRun> RunAndCapture(const std::vector<std::string>& argv);

}  // namespace fedjets::common
