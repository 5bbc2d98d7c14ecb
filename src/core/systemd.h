// systemd's readiness protocol (sd_notify, Type=notify), spoken without libsystemd: a datagram
// to the socket in $NOTIFY_SOCKET. Outside systemd (no NOTIFY_SOCKET) it does nothing.
#pragma once

#include <string>

namespace greenshift {

// Sends `state` ("READY=1", "STOPPING=1", "RELOADING=1", "STATUS=..."); false when systemd
// asked for notifications and the message could not be sent.
bool NotifySystemd(const std::string& state);

}  // namespace greenshift
