// A bridge's forwarding entries (FDB), written over netlink from this process: what
// `bridge fdb replace|del MAC dev PORT master` does, without a process per entry. The l2
// switchover needs the speed: from the moment the guest pauses on its source until the bridges
// send its frames to the destination, every frame that reaches the source is lost with the
// source's tap (a `bridge` process per entry took 3-10 ms each on a machine busy with guests).
//
// Thread safety: one FdbSocket is used by one thread at a time.
#pragma once

#include <string>

#include "core/status.h"

namespace greenshift::lab {

class FdbSocket {
 public:
  // A netlink socket in the network namespace `netns` (empty: the caller's).
  static Result<FdbSocket> Open(const std::string& netns);
  FdbSocket(FdbSocket&& other) noexcept;
  FdbSocket& operator=(FdbSocket&& other) noexcept;
  FdbSocket(const FdbSocket&) = delete;
  FdbSocket& operator=(const FdbSocket&) = delete;
  ~FdbSocket();

  // The interface index of `port` in that namespace; NotFound when there is none.
  Result<int> IfIndex(const std::string& port) const;
  // Sends `mac` (aa:bb:cc:dd:ee:ff) to the bridge port `port` (an interface index) by a static
  // entry, which never ages and which nothing the bridge learns moves; replaces an entry for the
  // MAC on any port. (The kernel lets no one but the bridge add dynamic entries: to hand a MAC
  // back to learning, Delete its entry.)
  Status Replace(int port, const std::string& mac);
  // Removes the entry for `mac` if it is on `port` (then the bridge floods the MAC's frames until
  // it learns it again); NotFound when the MAC has no entry on that port.
  Status Delete(int port, const std::string& mac);

 private:
  FdbSocket(int fd, std::string netns) : fd_(fd), netns_(std::move(netns)) {}
  Status Send(int type, int flags, int port, const std::string& mac, int state);

  int fd_ = -1;
  std::string netns_;
  unsigned sequence_ = 0;
};

}  // namespace greenshift::lab
