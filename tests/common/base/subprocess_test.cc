#include "common/base/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>

#include "tests/common/base/temp_dir.h"

namespace fedjets::common {
namespace {

using testutil::ReadFile;

using SubprocessTest = testutil::TempDirTest;

TEST_F(SubprocessTest, RunProcessReturnsTheExitCode) {
  Result<int> code = RunProcess({"/bin/sh", "-c", "exit 3"});
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 3);
}

TEST_F(SubprocessTest, ProgramWithoutSlashIsLookedUpInPath) {
  Result<int> code = RunProcess({"sh", "-c", "exit 0"});
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 0);
}

TEST_F(SubprocessTest, ChildEndedByASignalExitsWith128PlusTheSignal) {
  Result<int> code = RunProcess({"sh", "-c", "kill -TERM $$"});
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 128 + SIGTERM);
}

TEST_F(SubprocessTest, MissingProgramIsNotFoundAndNamed) {
  Result<int> code = RunProcess({"fedjets-no-such-program", "--flag"});
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.status().code(), StatusCode::kNotFound);
  EXPECT_NE(code.status().message().find("fedjets-no-such-program"),
            std::string::npos)
      << code.status().message();
}

TEST_F(SubprocessTest, EmptyArgvIsInvalidArgument) {
  EXPECT_EQ(RunProcess({}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RunAndCapture({}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SubprocessTest, LogFileReceivesStdoutAndStderr) {
  SpawnOptions o;
  o.log_file = (dir_ / "child.log").string();
  Result<int> code =
      RunProcess({"sh", "-c", "echo out; echo err >&2; exit 2"}, o);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 2);
  EXPECT_EQ(ReadFile(o.log_file), "out\nerr\n");
}

TEST_F(SubprocessTest, LogFileIsAppendedToUnlessTruncateIsSet) {
  SpawnOptions o;
  o.log_file = (dir_ / "child.log").string();
  std::ofstream(o.log_file) << "before\n";
  ASSERT_TRUE(RunProcess({"echo", "appended"}, o).ok());
  EXPECT_EQ(ReadFile(o.log_file), "before\nappended\n");
  o.truncate_log = true;
  ASSERT_TRUE(RunProcess({"echo", "alone"}, o).ok());
  EXPECT_EQ(ReadFile(o.log_file), "alone\n");
}

TEST_F(SubprocessTest, UnwritableLogFileIsAnErrorNamingIt) {
  SpawnOptions o;
  o.log_file = (dir_ / "no-such-dir" / "child.log").string();
  Result<pid_t> pid = Spawn({"true"}, o);
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.status().message().find(o.log_file), std::string::npos)
      << pid.status().message();
}

TEST_F(SubprocessTest, RunAndCaptureReturnsOutputAndExitCode) {
  Result<CapturedRun> run =
      RunAndCapture({"sh", "-c", "echo one; echo two >&2; exit 4"});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->exit_code, 4);
  EXPECT_EQ(run->output, "one\ntwo\n");
}

TEST_F(SubprocessTest, RunAndCaptureGivesTheChildAnEmptyStdin) {
  Result<CapturedRun> run = RunAndCapture({"readlink", "/proc/self/fd/0"});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->output, "/dev/null\n");
}

TEST_F(SubprocessTest, WaitingForOneChildLeavesTheOthersToTheirOwner) {
  Result<pid_t> first = Spawn({"sh", "-c", "exit 5"});
  Result<pid_t> second = Spawn({"sh", "-c", "exit 7"});
  ASSERT_TRUE(first.ok() && second.ok());
  Result<int> second_code = WaitForExit(*second);
  ASSERT_TRUE(second_code.ok()) << second_code.status().ToString();
  EXPECT_EQ(*second_code, 7);
  Result<int> first_code = WaitForExit(*first);  // not reaped by the above
  ASSERT_TRUE(first_code.ok()) << first_code.status().ToString();
  EXPECT_EQ(*first_code, 5);
}

TEST_F(SubprocessTest, PollExitIsEmptyWhileTheChildRuns) {
  Result<pid_t> pid = Spawn({"sleep", "1000"});
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  Result<std::optional<int>> running = PollExit(*pid);
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  EXPECT_FALSE(running->has_value());
  kill(*pid, SIGKILL);
  Result<int> code = WaitForExit(*pid);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 128 + SIGKILL);
}

TEST_F(SubprocessTest, WaitingForAProcessThatIsNotAChildIsAnError) {
  EXPECT_FALSE(WaitForExit(getppid()).ok());
}

}  // namespace
}  // namespace fedjets::common
