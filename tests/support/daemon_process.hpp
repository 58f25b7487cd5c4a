// DaemonProcess: runs the real latchd binary for integration tests, finds its control port
// from its log, and stops it by its own PID. Test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"

namespace latch::test {

class DaemonProcess {
  public:
    // Starts latchd with `args` plus --listen-ng 127.0.0.1:0 and waits (up to 5 s) for it to
    // log its control address. Throws if it exits or stays silent.
    // `program` runs instead of latchd when given (a wrapper such as prlimit that execs it).
    explicit DaemonProcess(std::vector<std::string> args, const std::string& program = LATCHD_PATH);
    DaemonProcess(const DaemonProcess&) = delete;
    DaemonProcess& operator=(const DaemonProcess&) = delete;
    ~DaemonProcess();

    const Endpoint& ng() const { return ng_; }
    const Endpoint& rtpp() const { return rtpp_; }  // unset when latchd does not listen on UDP
    // SIGTERM, then waits up to `timeout`; the exit status, or -1 if it had to be killed.
    int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // SIGKILL, as a crash would end it, and waits for it to be gone.
    void kill();
    pid_t pid() const { return pid_; }
    // Everything latchd logged so far (reads what is pending without waiting).
    const std::string& log();
    // Waits (up to `timeout`) for a log line matching `pattern`; its first capture group.
    std::optional<std::string> wait_for_log(
        const std::string& pattern, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  private:
    pid_t pid_ = -1;
    int log_fd_ = -1;
    std::string log_;
    Endpoint ng_;
    Endpoint rtpp_;
};

// Runs a program to completion (up to `timeout`), capturing stdout and stderr together.
struct ProgramResult {
    int exit_code = -1;
    std::string output;
};
ProgramResult run_program(const std::string& path, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));

// GET http://ep/path over a plain TCP socket; the body, or "" on failure.
std::string http_get(const Endpoint& ep, const std::string& path);

}  // namespace latch::test
