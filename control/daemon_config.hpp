// DaemonConfig: latchd's settings, read from the command line. Built once at start-up on the
// main thread, then immutable and shared as const&.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"
#include "log.hpp"
#include "relay_config.hpp"

namespace latch {

struct DaemonConfig {
    Endpoint listen_ng = *Endpoint::parse("127.0.0.1:2223");
    RelayConfig relay;
    LogLevel log_level = LogLevel::info;
};

struct CommandLine {
    DaemonConfig config;
    bool show_help = false;
    bool show_version = false;
};

// Throws std::invalid_argument with a sentence naming the option and what is wrong.
CommandLine parse_command_line(const std::vector<std::string>& args);

std::string usage_text();
inline constexpr const char* kLatchVersion = "0.1.0";

}  // namespace latch
