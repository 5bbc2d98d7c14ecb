#include "hypervisor/qemu/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "core/clock.h"

namespace greenshift::qemu {

using nlohmann::json;

Result<std::optional<json>> QmpFramer::Next() {
  while (true) {
    const size_t end = buffer_.find('\n');
    if (end == std::string::npos) return std::optional<json>();
    std::string line = buffer_.substr(0, end);
    buffer_.erase(0, end + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded() || !message.is_object()) {
      return Status::Error("QMP sent a line that is not a JSON object: " + line.substr(0, 200));
    }
    return std::optional<json>(std::move(message));
  }
}

std::optional<QmpEvent> ParseEvent(const json& message) {
  if (!message.is_object() || !message.contains("event") || !message["event"].is_string()) {
    return std::nullopt;
  }
  QmpEvent event;
  event.name = message["event"].get<std::string>();
  event.data = message.value("data", json::object());
  event.timestamp_us = 0;
  if (message.contains("timestamp") && message["timestamp"].is_object()) {
    const json& ts = message["timestamp"];
    event.timestamp_us =
        ts.value("seconds", int64_t{0}) * 1000000 + ts.value("microseconds", int64_t{0});
  }
  return event;
}

Result<std::unique_ptr<QmpClient>> QmpClient::Connect(const std::string& socket_path,
                                                      std::chrono::milliseconds timeout) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path) {
    return Status::Error("QMP socket path too long: " + socket_path);
  }
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
  const SteadyTime deadline = SteadyNow() + timeout;
  std::string last_error;
  while (true) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::Error(std::string("socket: ") + std::strerror(errno));
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      std::unique_ptr<QmpClient> client(new QmpClient(fd, socket_path));
      Result<std::optional<json>> greeting = client->ReadMessage(deadline);
      if (!greeting.ok()) return greeting.status();
      if (!greeting->has_value() || !(**greeting).contains("QMP")) {
        return Status::Error("no QMP greeting on " + socket_path);
      }
      Result<json> negotiated = client->Execute("qmp_capabilities", json::object(), timeout);
      if (!negotiated.ok()) return negotiated.status();
      return client;
    }
    last_error = std::strerror(errno);
    close(fd);
    if (SteadyNow() >= deadline) {
      return Status::Error("cannot connect to QMP socket " + socket_path + ": " + last_error);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

QmpClient::~QmpClient() {
  if (fd_ >= 0) close(fd_);
}

Result<std::optional<json>> QmpClient::ReadMessage(SteadyTime deadline) {
  while (true) {
    Result<std::optional<json>> next = framer_.Next();
    if (!next.ok() || next->has_value()) return next;
    if (closed_) return Status::Error("QEMU closed the QMP connection (" + socket_path_ + ")");
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyNow()).count();
    if (left <= 0) return std::optional<json>();
    pollfd fd{fd_, POLLIN, 0};
    const int ready = poll(&fd, 1, static_cast<int>(left));
    if (ready < 0 && errno != EINTR)
      return Status::Error(std::string("poll: ") + std::strerror(errno));
    if (ready <= 0) continue;
    char buffer[8192];
    const ssize_t n = read(fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closed_ = true;
      continue;
    }
    framer_.Feed(buffer, static_cast<size_t>(n));
  }
}

Result<json> QmpClient::Execute(const std::string& command, const json& arguments,
                                std::chrono::milliseconds timeout) {
  return Run(command, arguments, timeout, -1);
}

Result<json> QmpClient::PassFd(const std::string& fd_name, int fd,
                               std::chrono::milliseconds timeout) {
  if (fd < 0) return Status::Invalid("QMP getfd " + fd_name + ": no file descriptor to pass");
  return Run("getfd", {{"fdname", fd_name}}, timeout, fd);
}

Result<json> QmpClient::Run(const std::string& command, const json& arguments,
                            std::chrono::milliseconds timeout, int pass_fd) {
  const int64_t id = next_id_++;
  json request = {{"execute", command}, {"id", id}};
  if (!arguments.empty()) request["arguments"] = arguments;
  const std::string line = request.dump() + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    iovec part{const_cast<char*>(line.data() + sent), line.size() - sent};
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    // A descriptor rides with the command's first byte (SCM_RIGHTS); QEMU takes it for the
    // command read with it.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0 && sent == 0) {
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      cmsghdr* header = CMSG_FIRSTHDR(&message);
      header->cmsg_level = SOL_SOCKET;
      header->cmsg_type = SCM_RIGHTS;
      header->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(header), &pass_fd, sizeof(int));
    }
    const ssize_t n = sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error("QMP " + command + ": cannot send to " + socket_path_ + ": " +
                           std::strerror(errno));
    }
    sent += static_cast<size_t>(n);
  }
  const SteadyTime deadline = SteadyNow() + timeout;
  while (true) {
    Result<std::optional<json>> message = ReadMessage(deadline);
    if (!message.ok()) return message.status().Context("QMP " + command);
    if (!message->has_value()) {
      return Status::Unavailable("QMP " + command + ": no reply within " +
                                 std::to_string(timeout.count()) + " ms");
    }
    json& reply = **message;
    if (std::optional<QmpEvent> event = ParseEvent(reply)) {
      events_.push_back(std::move(*event));
      continue;
    }
    if (!reply.contains("id") || reply["id"] != id)
      continue;  // a stale reply to an earlier timeout
    if (reply.contains("error")) {
      const json& error = reply["error"];
      return Status::Error("QMP " + command + " failed: " + error.value("class", std::string("?")) +
                           ": " + error.value("desc", std::string("")));
    }
    return reply.value("return", json::object());
  }
}

Result<std::vector<QmpEvent>> QmpClient::PollEvents(std::chrono::milliseconds wait) {
  const SteadyTime deadline = SteadyNow() + wait;
  while (true) {
    // Take whatever is already readable without waiting.
    Result<std::optional<json>> message = ReadMessage(events_.empty() ? deadline : SteadyNow());
    if (!message.ok()) {
      if (!events_.empty()) break;  // hand out what we have; the error shows on the next call
      return message.status();
    }
    if (!message->has_value()) break;
    if (std::optional<QmpEvent> event = ParseEvent(**message)) events_.push_back(std::move(*event));
  }
  std::vector<QmpEvent> events(events_.begin(), events_.end());
  events_.clear();
  return events;
}

}  // namespace greenshift::qemu
