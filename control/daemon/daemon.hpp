// Daemon: latchd's life from start-up to shutdown: descriptor limit, relay workers, control
// socket, signal handling. Runs on the main thread, which is the control thread.
#pragma once

#include <functional>

#include "daemon_config.hpp"

namespace latch {

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force.
uint64_t raise_descriptor_limit();

// Reads the configuration again, as at start-up (config file and command line); throws
// std::invalid_argument naming what is wrong (the file and line).
using ConfigReader = std::function<DaemonConfig()>;

// Runs until SIGINT or SIGTERM. Throws std::runtime_error when start-up fails. SIGHUP reloads:
// `reread` (when given) reads the configuration again, what may change live is applied and
// logged, what needs a restart is logged as such, and a configuration that cannot be read is
// refused with the reason while the running one stays.
void run_daemon(const DaemonConfig& config, ConfigReader reread = {});

}  // namespace latch
