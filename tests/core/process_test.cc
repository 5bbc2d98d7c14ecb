#include "core/process.h"

#include <gtest/gtest.h>

#include "core/files.h"

namespace greenshift {
namespace {

TEST(ProcessTest, CapturesOutputAndExitCode) {
  Result<CommandOutput> output = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(output.ok()) << output.error();
  EXPECT_EQ(output->exit_code, 3);
  EXPECT_EQ(output->stdout_text, "out\n");
  EXPECT_EQ(output->stderr_text, "err\n");
}

TEST(ProcessTest, RunCheckedReportsCommandAndStderr) {
  Status status = RunChecked({"sh", "-c", "echo 'no such device' >&2; exit 2"});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("exit 2"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("no such device"), std::string::npos) << status.message();
}

TEST(ProcessTest, MissingProgramIsAClearError) {
  Result<CommandOutput> output = RunCommand({"greenshift-no-such-program"});
  ASSERT_FALSE(output.ok());
  EXPECT_NE(output.error().find("cannot run greenshift-no-such-program"), std::string::npos);
}

TEST(ProcessTest, TimeoutKillsTheCommand) {
  Result<CommandOutput> output =
      RunCommand({"sleep", "5"}, RunOptions{"", std::chrono::milliseconds(100)});
  ASSERT_FALSE(output.ok());
  EXPECT_NE(output.error().find("timed out"), std::string::npos);
}

TEST(ProcessTest, JoinCommandQuotes) {
  EXPECT_EQ(JoinCommand({"ip", "link", "set", "a b"}), "ip link set 'a b'");
}

TEST(FilesTest, AtomicWriteAndLock) {
  const std::string dir = ::testing::TempDir() + "/gs-files-test";
  ASSERT_TRUE(MakeDirs(dir + "/x/y").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/x/y/f", "hello").ok());
  EXPECT_EQ(*ReadFile(dir + "/x/y/f"), "hello");
  Result<FileLock> first = FileLock::TryAcquire(dir + "/lock", "VM 'web'");
  ASSERT_TRUE(first.ok());
  Result<FileLock> second = FileLock::TryAcquire(dir + "/lock", "VM 'web'");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().find("VM 'web' is busy"), std::string::npos);
}

}  // namespace
}  // namespace greenshift
