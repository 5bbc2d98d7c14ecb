// Small file helpers. State files are replaced atomically so a crash never leaves half a record.
#pragma once

#include <string>
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

}  // namespace greenshift
