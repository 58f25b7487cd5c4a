// Daemon: latchd's life from start-up to shutdown: descriptor limit, relay workers, control
// socket, signal handling. Runs on the main thread, which is the control thread.
#pragma once

#include "daemon_config.hpp"

namespace latch {

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force.
uint64_t raise_descriptor_limit();

// Runs until SIGINT or SIGTERM. Throws std::runtime_error when start-up fails.
void run_daemon(const DaemonConfig& config);

}  // namespace latch
