#include "core/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

namespace greenshift {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

Status WriteFileAtomic(const std::string& path, const std::string& content) {
  const std::string temp = path + ".tmp." + std::to_string(getpid());
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error("cannot write " + temp + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string error = std::strerror(errno);
      close(fd);
      unlink(temp.c_str());
      return Status::Error("cannot write " + temp + ": " + error);
    }
    written += static_cast<size_t>(n);
  }
  fsync(fd);
  close(fd);
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const std::string error = std::strerror(errno);
    unlink(temp.c_str());
    return Status::Error("cannot replace " + path + ": " + error);
  }
  return Status::Ok();
}

Status MakeDirs(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::Error("cannot create directory " + partial + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat info;
  return lstat(path.c_str(), &info) == 0;
}

std::string PathBeside(const std::string& file, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(file).parent_path() / path).lexically_normal().string();
}

Status RemoveFile(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::Error("cannot remove " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return names;
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  return names;
}

Result<FileLock> FileLock::TryAcquire(const std::string& path, const std::string& what) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error("cannot open lock " + path + ": " + std::strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return Status::Error(what + " is busy: another greenshift command holds " + path);
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) close(fd_);  // closing releases the flock
}

bool IsPlainAbsolutePath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.find('\0') != std::string::npos) return false;
  for (size_t at = 0; at != std::string::npos;) {
    const size_t next = path.find('/', at + 1);
    const std::string part =
        path.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    if (part == "." || part == "..") return false;
    at = next;
  }
  return true;
}

Result<std::unique_ptr<BackgroundFsync>> BackgroundFsync::Start(const std::string& path,
                                                                std::chrono::milliseconds period) {
  // Read-only is enough: fsync(2) writes back the file's pages whoever dirtied them.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error("cannot open " + path + " to sync it: " + std::strerror(errno));
  return std::unique_ptr<BackgroundFsync>(new BackgroundFsync(fd, path, period));
}

BackgroundFsync::BackgroundFsync(int fd, std::string path, std::chrono::milliseconds period)
    : fd_(fd), path_(std::move(path)), period_(period), thread_([this] { Run(); }) {}

BackgroundFsync::~BackgroundFsync() {
  Stop();
  thread_.join();
  close(fd_);
}

void BackgroundFsync::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  wake_.notify_all();
}

int64_t BackgroundFsync::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

std::string BackgroundFsync::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void BackgroundFsync::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    const int rc = fsync(fd_);  // outside the lock: Stop() and the getters never wait for it
    const int err = errno;
    lock.lock();
    ++syncs_;
    if (rc != 0) {
      error_ = "cannot sync " + path_ + ": " + std::strerror(err);
      return;
    }
    wake_.wait_for(lock, period_, [this] { return stop_; });
  }
}

}  // namespace greenshift
