#include "core/process.h"

#include "core/files.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/clock.h"

namespace greenshift {
namespace {

std::string ErrnoText() {
  return std::strerror(errno);
}

}  // namespace

std::string JoinCommand(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& arg : argv) {
    if (!text.empty()) text += ' ';
    const bool plain =
        !arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      text += arg;
    } else {
      text += '\'';
      for (char c : arg) text += (c == '\'') ? std::string("'\\''") : std::string(1, c);
      text += '\'';
    }
  }
  return text;
}

bool IsRoot() {
  return geteuid() == 0;
}

Status EnterNetns(const std::string& netns) {
  const std::string path = "/run/netns/" + netns;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error("cannot open network namespace " + path + ": " + ErrnoText());
  const int rc = setns(fd, CLONE_NEWNET);
  const std::string error = ErrnoText();
  close(fd);
  if (rc != 0) return Status::Error("cannot enter network namespace " + netns + ": " + error);
  return Status::Ok();
}

Result<CommandOutput> RunCommand(const std::vector<std::string>& argv, const RunOptions& options) {
  if (argv.empty()) return Status::Error("RunCommand: empty command");
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return Status::Error("pipe: " + ErrnoText());
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return Status::Error("pipe: " + ErrnoText());
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const std::string netns_path = options.netns.empty() ? "" : "/run/netns/" + options.netns;

  const pid_t pid = fork();
  if (pid < 0) return Status::Error("fork: " + ErrnoText());
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (!netns_path.empty()) {
      const int fd = open(netns_path.c_str(), O_RDONLY);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        const char msg[] = "greenshift: cannot enter network namespace\n";
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(126);
      }
    }
    execvp(args[0], args.data());
    const char msg[] = "greenshift: exec failed\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);

  CommandOutput output;
  const SteadyTime deadline = SteadyNow() + options.timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool timed_out = false;
  char buffer[4096];
  while (open_fds > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyNow()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    const int ready = poll(fds, 2, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? output.stdout_text : output.stderr_text).append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status::Error("command timed out after " + std::to_string(options.timeout.count()) +
                         " ms: " + JoinCommand(argv));
  }
  output.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  if (output.exit_code == 127 && output.stderr_text.find("exec failed") != std::string::npos) {
    return Status::Error("cannot run " + argv[0] + " (is it installed?)");
  }
  return output;
}

Status RunChecked(const std::vector<std::string>& argv, const RunOptions& options) {
  Result<CommandOutput> output = RunCommand(argv, options);
  if (!output.ok()) return output.status();
  if (output->exit_code != 0) {
    std::string err = output->stderr_text;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return Status::Error(JoinCommand(argv) +
                         (options.netns.empty() ? "" : " (in " + options.netns + ")") +
                         " failed (exit " + std::to_string(output->exit_code) + ")" +
                         (err.empty() ? "" : ": " + err));
  }
  return Status::Ok();
}

pid_t RunningPid(const std::string& pid_file, const std::string& program) {
  Result<std::string> text = ReadFile(pid_file);
  if (!text.ok()) return 0;
  const pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
  if (pid <= 0 || !ProcessAlive(pid)) return 0;
  Result<std::string> comm = ReadFile("/proc/" + std::to_string(pid) + "/comm");
  const size_t length = std::min<size_t>(program.size(), 15);
  if (!comm.ok() || comm->compare(0, length, program, 0, length) != 0) return 0;
  return pid;
}

Status InNetns(const std::string& netns, const std::function<Status()>& fn) {
  if (netns.empty()) return fn();
  Status status = Status::Ok();
  std::thread worker([&] {
    status = EnterNetns(netns);
    if (status.ok()) status = fn();
  });
  worker.join();
  return status;
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0) return errno == EPERM;
  // A zombie child of ours counts as gone.
  int wstatus = 0;
  if (waitpid(pid, &wstatus, WNOHANG) == pid) return false;
  // Nor does a zombie whose parent has not reaped it yet (state 'Z' after the name in /proc).
  Result<std::string> stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.ok()) {
    const size_t paren = stat->rfind(')');
    if (paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z') {
      return false;
    }
  }
  return true;
}

void TerminateProcess(pid_t pid, std::chrono::milliseconds grace) {
  if (!ProcessAlive(pid)) return;
  kill(pid, SIGTERM);
  const SteadyTime deadline = SteadyNow() + grace;
  while (SteadyNow() < deadline) {
    if (!ProcessAlive(pid)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  for (int i = 0; i < 500 && ProcessAlive(pid); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace greenshift
