// DaemonConfig: latchd's settings, read from the command line and the config file. Built at
// start-up on the main thread, then immutable and shared as const&; a reload (SIGHUP) builds a
// new one beside it and applies what may change while latchd runs (config_changes()).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "allow_list.hpp"
#include "endpoint.hpp"
#include "interfaces.hpp"
#include "latch.hpp"
#include "log.hpp"
#include "redis_link.hpp"
#include "relay_config.hpp"

namespace latch {

struct DaemonConfig {
    Endpoint listen_ng = *Endpoint::parse("127.0.0.1:2223");
    RelayConfig relay;
    std::vector<Interface> interfaces;  // never empty after parsing
    std::optional<Endpoint> metrics;    // Prometheus metrics over HTTP; off when unset
    // The rtpproxy protocol: UDP (off when unset) and a unix stream socket (off when empty).
    // Off unless asked for: its customary port, 22222, is rtpproxy's own, and latch must
    // start beside the relay it is to replace.
    std::optional<Endpoint> listen_rtpp;
    std::string listen_rtpp_unix;
    LearningMode learning = LearningMode::heuristic;  // per call: ng "learning", flags
    AllowList control_allow = AllowList::loopback();  // who may use the control sockets
    uint64_t max_sessions = 0;                        // new calls refused beyond it; 0: no limit
    uint64_t max_packet_rate = 0;                     // packets/s relayed; 0: no limit
    LogLevel log_level = LogLevel::info;
    // Call state in Redis (off when unset), under this instance's name (default: the host name).
    std::optional<RedisTarget> redis;
    std::string instance_id;
    // Recordings (pcap and metadata files) go here; empty: latchd records nothing.
    std::string recording_dir;
};

struct CommandLine {
    DaemonConfig config;
    bool show_help = false;
    bool show_version = false;
};

// Throws std::invalid_argument with a sentence naming the option and what is wrong.
// "--config FILE" reads FILE first (lines "option = value", '#' comments); the options given on
// the command line override it.
CommandLine parse_command_line(const std::vector<std::string>& args);

// A config file's settings as command-line arguments ("--option", "value"...), each with where
// it came from ("FILE line N"). Throws std::invalid_argument naming the file and line.
struct ConfigArgument {
    std::string text;
    std::string origin;  // empty: the command line
};
std::vector<ConfigArgument> read_config_file(const std::string& path);

// What a reload would change, setting by setting, as "name: old -> new".
struct ConfigChanges {
    std::vector<std::string> live;     // applied at once (see apply_live() in the daemon)
    std::vector<std::string> restart;  // read, but in force only after a restart
    bool empty() const { return live.empty() && restart.empty(); }
};
// The settings a running latchd can take over: log level, control allow-list, session and
// packet-rate limits, learning mode and window (for signalling from then on).
ConfigChanges config_changes(const DaemonConfig& running, const DaemonConfig& next);
// `running` with those live settings taken from `next`: what is in force after a reload.
DaemonConfig with_live_settings(DaemonConfig running, const DaemonConfig& next);
std::string describe_networks(const AllowList& allow);

std::string usage_text();
#ifndef LATCH_VERSION
#define LATCH_VERSION "unknown"
#endif
inline constexpr const char* kLatchVersion = LATCH_VERSION;

}  // namespace latch
