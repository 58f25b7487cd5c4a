// ServiceNotify. Control thread only.
#include "service_notify.hpp"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <ctime>

#include "log.hpp"

namespace latch {

ServiceNotify::ServiceNotify(uv_loop_t* loop) : loop_(loop) {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    enabled_ = socket != nullptr && *socket != '\0';
    uint64_t usec = 0;
    // > 0 only when WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is this process).
    if (enabled_ && sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) watchdog_ms_ = usec / 2000;
}

void ServiceNotify::send(const std::string& message) {
    if (!enabled_) return;
    if (int rc = sd_notify(0, message.c_str()); rc < 0)
        log(LogLevel::warning, "systemd notification failed: {}", std::strerror(-rc));
}

void ServiceNotify::ready(const std::string& status) {
    last_status_ = status;
    send("READY=1\nSTATUS=" + status);
    if (watchdog_ms_ == 0) return;
    log(LogLevel::info, "systemd watchdog: a keep-alive every {} ms from the control loop",
        watchdog_ms_);
    // From the control loop's own timer: when the loop hangs, the keep-alives stop.
    keepalive_.start(loop_, watchdog_ms_, watchdog_ms_, "watchdog keep-alive",
                     [this] { send("WATCHDOG=1"); });
}

void ServiceNotify::status(const std::string& status) {
    if (status == last_status_) return;
    last_status_ = status;
    send("STATUS=" + status);
}

void ServiceNotify::reloading() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}",
                     static_cast<uint64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000));
}

void ServiceNotify::reloaded(const std::string& outcome) {
    last_status_ = outcome;
    send("READY=1\nSTATUS=" + outcome);
}

void ServiceNotify::stopping() {
    keepalive_.stop();
    send("STOPPING=1\nSTATUS=stopping");
}

std::string service_status(uint64_t calls, unsigned workers, const std::string& packet_io,
                           const std::string& kernel) {
    return fmt::format("{} call{}, {} worker{} ({}), {}", calls, calls == 1 ? "" : "s", workers,
                       workers == 1 ? "" : "s", packet_io,
                       kernel.empty() ? "media in userspace" : "kernel path on " + kernel);
}

}  // namespace latch
