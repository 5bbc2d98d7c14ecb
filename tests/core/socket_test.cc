#include "core/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace greenshift {
namespace {

// A listening TCP socket on 127.0.0.1, on a port the kernel picks.
struct Listener {
  UniqueFd fd;
  int port = 0;
};
Listener Listen() {
  Listener listener;
  listener.fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(listener.fd.valid());
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(listener.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(listen(listener.fd.get(), 4), 0);
  socklen_t length = sizeof address;
  EXPECT_EQ(getsockname(listener.fd.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  listener.port = ntohs(address.sin_port);
  return listener;
}

TEST(UniqueFdTest, ClosesWhatItHoldsOnceAndMoves) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const int read_end = pipe_fds[0];
  {
    UniqueFd owner(read_end);
    UniqueFd moved(std::move(owner));
    EXPECT_FALSE(owner.valid());
    EXPECT_EQ(moved.get(), read_end);
    EXPECT_NE(fcntl(read_end, F_GETFD), -1);
  }
  EXPECT_EQ(fcntl(read_end, F_GETFD), -1);  // closed by the one that held it last
  UniqueFd kept(pipe_fds[1]);
  const int released = kept.release();
  EXPECT_FALSE(kept.valid());
  EXPECT_NE(fcntl(released, F_GETFD), -1);  // released, not closed
  close(released);
}

TEST(ConnectTcpTest, ConnectsABlockingSocketThatCarriesData) {
  Listener listener = Listen();
  Result<UniqueFd> connected =
      ConnectTcp("", "127.0.0.1", listener.port, std::chrono::milliseconds(2000));
  ASSERT_TRUE(connected.ok()) << connected.error();
  const int flags = fcntl(connected->get(), F_GETFL);
  EXPECT_EQ(flags & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(connected->get(), F_GETFD) & FD_CLOEXEC, 0);
  UniqueFd accepted(accept(listener.fd.get(), nullptr, nullptr));
  ASSERT_TRUE(accepted.valid());
  const std::string text = "QEMU\n";
  ASSERT_EQ(write(connected->get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  char buffer[16] = {};
  ASSERT_EQ(read(accepted.get(), buffer, sizeof buffer), static_cast<ssize_t>(text.size()));
  EXPECT_EQ(std::string(buffer), text);
}

TEST(ConnectTcpTest, ARefusedConnectionNamesTheAddressAndPort) {
  int port = 0;
  {
    Listener closed = Listen();  // a port nobody listens on once it is closed
    port = closed.port;
  }
  Result<UniqueFd> connected = ConnectTcp("", "127.0.0.1", port, std::chrono::milliseconds(2000));
  ASSERT_FALSE(connected.ok());
  EXPECT_TRUE(connected.status().IsUnavailable());
  EXPECT_NE(connected.error().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << connected.error();
  EXPECT_NE(connected.error().find("refused"), std::string::npos) << connected.error();
}

TEST(ConnectTcpTest, RefusesWhatIsNotAnAddressOrAPort) {
  Result<UniqueFd> name = ConnectTcp("", "site-b.example", 4711, std::chrono::milliseconds(100));
  ASSERT_FALSE(name.ok());
  EXPECT_TRUE(name.status().IsInvalid());
  EXPECT_NE(name.error().find("site-b.example:4711: not an IPv4 or IPv6 address"),
            std::string::npos)
      << name.error();
  for (int port : {0, -1, 65536}) {
    Result<UniqueFd> bad = ConnectTcp("", "127.0.0.1", port, std::chrono::milliseconds(100));
    ASSERT_FALSE(bad.ok());
    EXPECT_TRUE(bad.status().IsInvalid()) << port;
    EXPECT_NE(bad.error().find("not a TCP port"), std::string::npos) << bad.error();
  }
}

TEST(ConnectTcpTest, ANamespaceThatDoesNotExistIsNamed) {
  Result<UniqueFd> connected = ConnectTcp("greenshift-test-no-such-netns", "127.0.0.1", 4711,
                                          std::chrono::milliseconds(100));
  ASSERT_FALSE(connected.ok());
  EXPECT_NE(connected.error().find("greenshift-test-no-such-netns"), std::string::npos)
      << connected.error();
}

TEST(TcpUnsentLimitTest, IsSetOnTheSocketAndBadSizesAreRefused) {
  Listener listener = Listen();
  Result<UniqueFd> connected =
      ConnectTcp("", "127.0.0.1", listener.port, std::chrono::milliseconds(2000));
  ASSERT_TRUE(connected.ok()) << connected.error();
  ASSERT_TRUE(SetTcpUnsentLimit(connected->get(), 16384).ok());
  int value = 0;
  socklen_t length = sizeof value;
  ASSERT_EQ(getsockopt(connected->get(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &value, &length), 0);
  EXPECT_EQ(value, 16384);
  for (int64_t bytes : {int64_t{0}, int64_t{-5}, int64_t{1} << 31}) {
    Status refused = SetTcpUnsentLimit(connected->get(), bytes);
    EXPECT_TRUE(refused.IsInvalid()) << bytes;
  }
  EXPECT_FALSE(SetTcpUnsentLimit(-1, 16384).ok());
}

}  // namespace
}  // namespace greenshift
