// Running other programs (ip, tc, qemu) and entering network namespaces.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace greenshift {

struct CommandOutput {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  std::string stdout_text;
  std::string stderr_text;
};

struct RunOptions {
  std::string netns;  // run inside this named network namespace (/run/netns/NAME); empty: current
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

// Runs argv[0] (looked up in PATH) and waits for it. An error only when it could not be started or
// ran out of time; a non-zero exit is reported in exit_code.
Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                 const RunOptions& options = {});

// Like RunCommand, but any non-zero exit is an error whose message holds the command and its
// stderr.
Status RunChecked(const std::vector<std::string>& argv, const RunOptions& options = {});

// Moves the calling thread into the named network namespace.
Status EnterNetns(const std::string& netns);

// Runs `fn` on a thread of its own inside network namespace `netns` (empty: this one, on the
// caller's thread), and waits for it: a socket made there stays in that namespace for good,
// and setns moves only the calling thread.
Status InNetns(const std::string& netns, const std::function<Status()>& fn);

bool ProcessAlive(pid_t pid);

// The pid in `pid_file` when that process is alive and runs `program` (its /proc comm, of which
// the kernel keeps 15 characters), else 0: a pid file outlives its process, and a pid is reused.
pid_t RunningPid(const std::string& pid_file, const std::string& program);

// Sends SIGTERM, waits up to `grace`, then SIGKILL. Returns once the process is gone (or not ours).
void TerminateProcess(pid_t pid, std::chrono::milliseconds grace);

// Shell-quoted text of argv, for messages and logs.
std::string JoinCommand(const std::vector<std::string>& argv);

bool IsRoot();

}  // namespace greenshift
