// Small file helpers. State files are replaced atomically so a crash never leaves half a record.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"

namespace greenshift {

Result<std::string> ReadFile(const std::string& path);
// Writes to a temporary file beside `path`, fsyncs, then renames over `path`.
Status WriteFileAtomic(const std::string& path, const std::string& content);
// mkdir -p.
Status MakeDirs(const std::string& path);
bool PathExists(const std::string& path);
// `path` as seen from the directory of `file` (paths in a config or scenario file are relative
// to it); absolute and empty paths stay as they are.
std::string PathBeside(const std::string& file, const std::string& path);
Status RemoveFile(const std::string& path);  // OK if it did not exist
// Whether `path` is absolute, with no "." or ".." component and no NUL: a path that can be
// compared with others as text (a directory prefix of another path, say). Pure.
bool IsPlainAbsolutePath(const std::string& path);
// Names of the entries of a directory (no "." and ".."); empty when it does not exist.
std::vector<std::string> ListDir(const std::string& path);

// An exclusive advisory lock (flock) held for the lifetime of the object.
class FileLock {
 public:
  // Takes the lock without waiting; fails naming `what` when another process holds it.
  static Result<FileLock> TryAcquire(const std::string& path, const std::string& what);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

// Keeps what another process writes to a file on its disk, one period behind at most: a thread
// of its own calls fsync(2) on the file every `period` until Stop() or destruction. Why: a QEMU
// receiving a disk over NBD writes it through the page cache and flushes only when told to,
// and it is told at a migration's switchover, with the guest paused: everything written since
// the copy began then goes to the disk inside the guest's pause.
// Thread safety: Stop(), syncs() and error() may be called from any thread at any time.
class BackgroundFsync {
 public:
  // Opens `path` (it must exist) and starts syncing it, the first time at once.
  static Result<std::unique_ptr<BackgroundFsync>> Start(const std::string& path,
                                                        std::chrono::milliseconds period);
  BackgroundFsync(const BackgroundFsync&) = delete;
  BackgroundFsync& operator=(const BackgroundFsync&) = delete;
  // Stop(), then waits for an fsync under way to return.
  ~BackgroundFsync();

  // No further fsync starts; returns at once (never waits for one under way: a disk that is
  // slow to sync must not hold its caller).
  void Stop();
  // How many fsync calls have returned (succeeded or not).
  int64_t syncs() const;
  // The first failed fsync's error naming the file, "" while none failed. It stops syncing.
  std::string error() const;

 private:
  BackgroundFsync(int fd, std::string path, std::chrono::milliseconds period);
  void Run();

  const int fd_;
  const std::string path_;
  const std::chrono::milliseconds period_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  int64_t syncs_ = 0;  // guarded by mu_
  std::string error_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace greenshift
