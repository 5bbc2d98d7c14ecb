// The lab's WAN delay: a userspace relay between two network interfaces.
//
// This kernel has no netem qdisc (and loads no modules), so a link with a one-way delay is two
// veth pairs meeting in the lab's WAN namespace, where this relay copies every frame from one
// end to the other, holding it for the delay:
//
//   site a: l-b ══ r<P>a ─┐ relay (AF_PACKET, one FIFO per direction) ┌─ r<P>b ══ l-a :site b
//                         └──────────── frame released at arrival + delay ────┘
//
// Frames keep their order (a release time never precedes the previous one's, even after the delay
// is lowered). Each direction's queue is bounded in bytes; a frame that does not fit is dropped and
// counted, as a router's full queue would. Bandwidth is shaped before the relay (tbf on the site's
// end), so the relay holds at most bandwidth x delay per direction.
//
// Frames carry their virtio-net header (PACKET_VNET_HDR): veth passes TCP segmentation-offload
// super-frames of up to 64 KiB with checksums left to fill, and the header hands both on intact,
// so the relay costs one copy per 64 KiB, not per 1.5 KiB frame.
//
// Thread safety: RunRelay owns its threads (one per direction); RelayStats is read by value.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"

namespace greenshift::lab {

struct RelayConfig {
  std::string interface_a;  // in the calling thread's network namespace
  std::string interface_b;
  // One-way delay applied in each direction; re-read from `delay_file` on SIGHUP when set
  // (a file holding the number of milliseconds), so a link's delay changes without a restart.
  double delay_ms = 0;
  std::string delay_file;
  int64_t queue_limit_bytes = 64 << 20;  // per direction
  std::string stats_file;                // JSON counters, rewritten every second; empty: none
};

struct RelayDirectionStats {
  int64_t frames = 0;  // forwarded
  int64_t bytes = 0;   // forwarded, virtio headers excluded
  // Did not fit the queue, or could not be relayed at all: larger than the relay's 64 KiB
  // buffer, or shorter than a virtio-net header.
  int64_t dropped_queue = 0;
  // The far end refused them: its interface down, or a frame its header cannot describe (an
  // overlay frame still to be segmented: docs/lab.md, vxlan).
  int64_t dropped_send = 0;
  int64_t max_queued_bytes = 0;
};

// Parses a delay file's text: a number of milliseconds, 0 <= d <= 10000.
Result<double> ParseRelayDelay(const std::string& text);

// Opens both interfaces (an error names the one that failed), then, when `ready` is set, calls it
// (the daemon forks there), then relays until SIGTERM or SIGINT, or until an interface disappears.
// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread.
Status RunRelay(const RelayConfig& config, const std::function<Status()>& ready);

}  // namespace greenshift::lab
