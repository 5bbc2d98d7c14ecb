// What waits in a guest's tap at its source when the guest stops for the switchover, handed to
// its tap at the destination. A paused QEMU stops reading its tap (the guest cannot take
// frames; after one, below), so the frames the bridge gave the tap just before and just after the
// pause wait in the tap's queue, which only the source QEMU reads, and go with it when it ends: the
// clients' last FINs and new SYNs of the moment (measured: within 0.3 ms of the pause, before any
// event could steer them), each then waiting for a TCP retransmission (200 ms, a SYN 1 s). Steering
// the network at the pause (routing.h) saves what comes after it; this saves what came before.
//
// How: before the migration, a duplicate of the source QEMU's own descriptor of the tap
// (pidfd_getfd: reading it reads QEMU's queue) and a packet socket in the destination's network
// namespace. Once the guest is paused and the network steered, Hand() reads what waits in the
// queue and sends each frame out of the destination's tap, whose waiting QEMU reads it when the
// guest runs there. A frame handed twice is harmless (TCP drops the duplicate); one left in the
// queue is lost. If the switchover fails, GiveBack() returns what was handed to the source's
// tap, where the guest, running there again, reads it.
//
// What it cannot save: one frame, the first to reach the source after the pause, which the
// stopped QEMU reads into a queue of its own (it reads, finds the guest cannot take it, queues it
// and stops reading: measured, 3 frames queued in a stopped guest's tap leave 2 in it); that
// queue goes with the source QEMU.
//
// Needs root (another process's descriptor) and a QEMU that holds the tap (its /proc/PID/fdinfo
// names it: "iff: t-web"), opened by name or handed to it by libvirt.
//
// Thread safety: one TapHandover is used by one thread at a time.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace greenshift::lab {

class TapHandover {
 public:
  // The tap named `tap` of the QEMU process `source_pid`, whose guest moves from network
  // namespace `from_netns` to `to_netns` (where a tap of the same name waits, or will by Hand()).
  static Result<TapHandover> Prepare(int source_pid, const std::string& tap,
                                     const std::string& from_netns, const std::string& to_netns);
  TapHandover(TapHandover&& other) noexcept;
  TapHandover& operator=(TapHandover&& other) noexcept;
  TapHandover(const TapHandover&) = delete;
  TapHandover& operator=(const TapHandover&) = delete;
  ~TapHandover();

  // Moves every frame waiting in the source's tap to the destination's tap; returns how many.
  // Call it once the guest is paused (before, QEMU reads the same queue) and may call it again
  // (what arrived since). An error says what failed; the frames read by then are kept for
  // GiveBack.
  Result<int> Hand();
  // The guest runs on its source again: the frames handed are sent to its tap there; returns
  // how many.
  Result<int> GiveBack();

 private:
  TapHandover() = default;
  // Sends frames_[first..] out of tap tap_ in the namespace of `socket`.
  Result<int> SendAll(int socket, size_t first);
  void Close();

  std::string tap_;
  int source_tap_fd_ = -1;           // the duplicate of the source QEMU's
  int vnet_header_bytes_ = 0;        // what precedes each frame read from it (0: none)
  int to_socket_ = -1;               // a packet socket in the destination's namespace
  int from_socket_ = -1;             // one in the source's (GiveBack)
  std::vector<std::string> frames_;  // handed so far: their virtio header (10 bytes) and frame
};

}  // namespace greenshift::lab
