// A client for the QEMU Machine Protocol: JSON objects over a UNIX socket, one per line.
// Command replies are matched by id; asynchronous events that arrive in between are queued
// and handed out by PollEvents, in order, with QEMU's own timestamps.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace greenshift::qemu {

struct QmpEvent {
  std::string name;      // e.g. "MIGRATION", "STOP", "RESUME"
  nlohmann::json data;   // the event's "data" member (an empty object if absent)
  int64_t timestamp_us;  // QEMU's wall-clock timestamp of the event, microseconds since the epoch
};

// Splits a byte stream into QMP messages. Pure: no I/O.
class QmpFramer {
 public:
  void Feed(const char* data, size_t size) { buffer_.append(data, size); }
  // Returns the next complete message, or nullopt when none is complete yet.
  // A line that is not valid JSON is an error naming the line.
  Result<std::optional<nlohmann::json>> Next();

 private:
  std::string buffer_;
};

// Turns a QMP event message into a QmpEvent; nullopt when `message` is not an event.
std::optional<QmpEvent> ParseEvent(const nlohmann::json& message);

class QmpClient {
 public:
  // Connects, reads the greeting and leaves negotiation mode (qmp_capabilities).
  static Result<std::unique_ptr<QmpClient>> Connect(const std::string& socket_path,
                                                    std::chrono::milliseconds timeout);
  ~QmpClient();
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  // Runs a command and returns its "return" value. A QMP error reply becomes an error with the
  // command name, QEMU's error class and description; no reply within `timeout` is Unavailable
  // (QEMU's main loop is busy or blocked: a late reply is skipped by a later command).
  Result<nlohmann::json> Execute(const std::string& command,
                                 const nlohmann::json& arguments = nlohmann::json::object(),
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Hands QEMU a copy of file descriptor `fd` under `fd_name` (QMP getfd: the descriptor rides
  // with the command over the UNIX socket), for commands that take "fd:NAME" (migrate). The
  // caller keeps its own copy. Errors as Execute's.
  Result<nlohmann::json> PassFd(const std::string& fd_name, int fd,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Returns queued events, plus any that arrive within `wait` when none is queued.
  // Fails when the connection is gone (QEMU exited).
  Result<std::vector<QmpEvent>> PollEvents(std::chrono::milliseconds wait);

  const std::string& socket_path() const { return socket_path_; }

 private:
  QmpClient(int fd, std::string socket_path) : fd_(fd), socket_path_(std::move(socket_path)) {}
  // Execute, with `pass_fd` (when >= 0) attached to the command.
  Result<nlohmann::json> Run(const std::string& command, const nlohmann::json& arguments,
                             std::chrono::milliseconds timeout, int pass_fd);
  // Reads one message, waiting until `deadline`. nullopt on timeout.
  Result<std::optional<nlohmann::json>> ReadMessage(std::chrono::steady_clock::time_point deadline);

  int fd_;
  std::string socket_path_;
  QmpFramer framer_;
  std::deque<QmpEvent> events_;
  int64_t next_id_ = 1;
  bool closed_ = false;
};

}  // namespace greenshift::qemu
