// `greenshift serve` as a child process, for tests that attack it, kill it and start it again:
// its config in a directory of its own, its stdout and stderr in files there, the port it listens
// on read from what it prints.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "core/files.h"

namespace greenshift::testing {

class ServeProcess {
 public:
  // `dir`: where the config (g.toml), the store and the logs live.
  explicit ServeProcess(std::string dir) : dir_(std::move(dir)) {}
  ~ServeProcess() { Kill(); }

  void WriteConfig(const std::string& toml) { WriteFileAtomic(dir_ + "/g.toml", toml).ok(); }
  const std::string& dir() const { return dir_; }

  // Starts `greenshift serve` on `port` (0: any) and waits until it listens; false when it
  // exited instead (Output() says why).
  bool Start(int port = 0, const std::string& extra_env = "") {
    const std::string binary = std::getenv("GREENSHIFT") ? std::getenv("GREENSHIFT") : "greenshift";
    ++starts_;
    const std::string out = dir_ + "/stdout." + std::to_string(starts_);
    pid_ = fork();
    if (pid_ == 0) {
      freopen(out.c_str(), "w", stdout);
      freopen((dir_ + "/stderr.log").c_str(), "a", stderr);
      if (!extra_env.empty()) putenv(const_cast<char*>(extra_env.c_str()));
      const std::string port_text = std::to_string(port);
      execl(binary.c_str(), binary.c_str(), "serve", "--config", (dir_ + "/g.toml").c_str(),
            "--port", port_text.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 3000; ++i) {  // up to 30 s
      std::ifstream in(out);
      std::stringstream text;
      text << in.rdbuf();
      const std::string printed = text.str();
      const size_t at = printed.find("://127.0.0.1:");
      if (at != std::string::npos && printed.find("/ (API", at) != std::string::npos) {
        port_ = std::atoi(printed.c_str() + at + 13);
        return true;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // SIGKILL: the service dies wherever it was.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGTERM and wait: its exit code.
  int Stop() {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_status_;
  }
  void Signal(int signal) {
    if (pid_ > 0) kill(pid_, signal);
  }
  bool Alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }
  int port() const { return port_; }
  int exit_status() const { return exit_status_; }
  // Everything it wrote on stderr (all its starts), and its last start's stdout.
  std::string Log() const { return Read(dir_ + "/stderr.log"); }
  std::string Output() const {
    return Read(dir_ + "/stdout." + std::to_string(starts_)) + Read(dir_ + "/stderr.log");
  }

 private:
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int starts_ = 0;
  int exit_status_ = -1;
};

}  // namespace greenshift::testing
