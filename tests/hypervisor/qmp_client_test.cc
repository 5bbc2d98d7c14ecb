// QmpClient against a QEMU stand-in on a real UNIX socket: what crosses the socket, including a
// file descriptor handed over with getfd.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/socket.h"
#include "hypervisor/qemu/qmp_client.h"

namespace greenshift::qemu {
namespace {

using nlohmann::json;

// One QMP line from `fd`, and the descriptor that came with it (-1 if none).
struct Received {
  json message;
  int fd = -1;
};
Received ReceiveLine(int fd) {
  Received received;
  std::string line;
  while (line.empty() || line.back() != '\n') {
    char buffer[4096];
    iovec part{buffer, sizeof buffer};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(fd, &message, 0);
    if (n <= 0) return received;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS)
        std::memcpy(&received.fd, CMSG_DATA(header), sizeof(int));
    }
    line.append(buffer, static_cast<size_t>(n));
  }
  received.message = json::parse(line);
  return received;
}

void Send(int fd, const json& message) {
  const std::string line = message.dump() + "\r\n";
  ASSERT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
}

class QmpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/gs-qmp-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    directory_ = pattern;
    path_ = directory_ + "/qmp.sock";
    listener_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(listen(listener_.get(), 1), 0);
  }
  void TearDown() override {
    if (qemu_.joinable()) qemu_.join();
    unlink(path_.c_str());
    rmdir(directory_.c_str());
  }
  // The stand-in: greets, accepts qmp_capabilities, then runs `serve` on the connection.
  template <typename Serve>
  void StartQemu(Serve serve) {
    qemu_ = std::thread([this, serve] {
      UniqueFd connection(accept(listener_.get(), nullptr, nullptr));
      if (!connection.valid()) return;
      Send(connection.get(),
           {{"QMP", {{"version", json::object()}, {"capabilities", json::array()}}}});
      Received negotiate = ReceiveLine(connection.get());
      Send(connection.get(), {{"return", json::object()}, {"id", negotiate.message["id"]}});
      serve(connection.get());
    });
  }

  std::string directory_, path_;
  UniqueFd listener_;
  std::thread qemu_;
};

TEST_F(QmpClientTest, GetfdHandsQemuTheDescriptorWithTheCommand) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  json seen;
  StartQemu([&](int connection) {
    Received getfd = ReceiveLine(connection);
    seen = getfd.message;
    // What QEMU would do with it: write into it (here: the pipe's other end).
    if (getfd.fd >= 0) {
      (void)!write(getfd.fd, "stream", 6);
      close(getfd.fd);
    }
    Send(connection, {{"return", json::object()}, {"id", getfd.message["id"]}});
  });
  Result<std::unique_ptr<QmpClient>> client =
      QmpClient::Connect(path_, std::chrono::milliseconds(2000));
  ASSERT_TRUE(client.ok()) << client.error();
  Result<json> passed = (*client)->PassFd("migration-stream", write_end.get());
  ASSERT_TRUE(passed.ok()) << passed.error();
  EXPECT_EQ(seen["execute"], "getfd");
  EXPECT_EQ(seen["arguments"]["fdname"], "migration-stream");
  char buffer[8] = {};
  ASSERT_EQ(read(read_end.get(), buffer, 6), 6);
  EXPECT_EQ(std::string(buffer), "stream");
}

TEST_F(QmpClientTest, AnErrorReplyToGetfdIsAnErrorAndLaterCommandsCarryNoDescriptor) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  int later_fd = -2;
  StartQemu([&](int connection) {
    Received getfd = ReceiveLine(connection);
    if (getfd.fd >= 0) close(getfd.fd);
    Send(connection, {{"error", {{"class", "GenericError"}, {"desc", "Parameter 'fdname' is bad"}}},
                      {"id", getfd.message["id"]}});
    Received next = ReceiveLine(connection);
    later_fd = next.fd;
    Send(connection, {{"return", {{"status", "running"}}}, {"id", next.message["id"]}});
  });
  Result<std::unique_ptr<QmpClient>> client =
      QmpClient::Connect(path_, std::chrono::milliseconds(2000));
  ASSERT_TRUE(client.ok()) << client.error();
  Result<json> refused = (*client)->PassFd("1-bad", write_end.get());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("getfd"), std::string::npos) << refused.error();
  EXPECT_NE(refused.error().find("Parameter 'fdname' is bad"), std::string::npos);
  Result<json> status = (*client)->Execute("query-status");
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ((*status)["status"], "running");
  qemu_.join();
  EXPECT_EQ(later_fd, -1);
}

TEST_F(QmpClientTest, NoDescriptorIsRefusedBeforeAnythingIsSent) {
  StartQemu([](int) {});
  Result<std::unique_ptr<QmpClient>> client =
      QmpClient::Connect(path_, std::chrono::milliseconds(2000));
  ASSERT_TRUE(client.ok()) << client.error();
  Result<json> refused = (*client)->PassFd("stream", -1);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalid());
}

}  // namespace
}  // namespace greenshift::qemu
