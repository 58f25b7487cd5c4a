// ServiceNotify: what systemd hears from latchd when it runs as a Type=notify service (sd_notify
// through Debian's libsystemd): READY once the control and media sockets are bound and the
// workers run, a STATUS line, WATCHDOG keep-alives sent from the control loop itself (a hung
// loop stops them, and systemd restarts the service), STOPPING at shutdown. Nothing at all
// without $NOTIFY_SOCKET. Control thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "timer.hpp"

namespace latch {

class ServiceNotify {
  public:
    explicit ServiceNotify(uv_loop_t* loop);
    ServiceNotify(const ServiceNotify&) = delete;
    ServiceNotify& operator=(const ServiceNotify&) = delete;

    // Whether systemd listens (NOTIFY_SOCKET is set).
    bool enabled() const { return enabled_; }
    // Ready to serve, with the first status line; starts the keep-alives if the service has a
    // watchdog (WATCHDOG_USEC), at half its interval.
    void ready(const std::string& status);
    // A new status line (sent only when it changed).
    void status(const std::string& status);
    void stopping();
    // A reload (SIGHUP) begins: "RELOADING=1"; reloaded() says it is over (READY=1, with what
    // came of it in the status line, which the next status() replaces).
    void reloading();
    void reloaded(const std::string& outcome);
    // The keep-alive interval in use; 0: no watchdog.
    uint64_t watchdog_interval_ms() const { return watchdog_ms_; }

  private:
    void send(const std::string& message);

    uv_loop_t* loop_;
    bool enabled_ = false;
    uint64_t watchdog_ms_ = 0;
    std::string last_status_;
    Timer keepalive_;
};

// The STATUS line: "12 calls, 2 workers (io_uring), kernel path on eth0".
std::string service_status(uint64_t calls, unsigned workers, const std::string& packet_io,
                           const std::string& kernel);

}  // namespace latch
