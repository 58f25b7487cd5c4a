// What a reload changes: each setting of DaemonConfig shown as the config file writes it, and
// whether a running latchd takes it over (ControlPlane::apply_live) or needs a restart for it.
// Main (control) thread.
#include <fmt/format.h>

#include <functional>

#include "daemon_config.hpp"

namespace latch {
namespace {

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out.empty() ? "none" : out;
}

std::string show(const std::optional<Endpoint>& ep) {
    return ep ? ep->to_string() : "off";
}

std::string yes_no(bool b) {
    return b ? "yes" : "no";
}

struct Setting {
    const char* name;
    bool live;
    std::function<std::string(const DaemonConfig&)> show;
    // What tells two values apart when it is not what is shown (a Redis password).
    std::function<std::string(const DaemonConfig&)> key = {};
};

const std::vector<Setting>& settings() {
    static const std::vector<Setting> all = {
        {"log-level", true, [](const DaemonConfig& c) { return log_level_name(c.log_level); }},
        {"control-allow", true,
         [](const DaemonConfig& c) { return describe_networks(c.control_allow); }},
        {"max-sessions", true,
         [](const DaemonConfig& c) { return std::to_string(c.max_sessions); }},
        {"max-packet-rate", true,
         [](const DaemonConfig& c) { return std::to_string(c.max_packet_rate); }},
        {"learning", true, [](const DaemonConfig& c) { return learning_mode_name(c.learning); }},
        {"learning-window", true,
         [](const DaemonConfig& c) { return std::to_string(c.relay.learning_window_ms); }},
        {"listen-ng", false, [](const DaemonConfig& c) { return c.listen_ng.to_string(); }},
        {"interface", false,
         [](const DaemonConfig& c) {
             std::vector<std::string> parts;
             for (const Interface& i : c.interfaces) {
                 parts.push_back(i.name + "=" + i.bind.address_string() +
                                 (i.advertised.empty() ? "" : "!" + i.advertised));
             }
             return join(parts);
         }},
        {"listen-rtpp", false, [](const DaemonConfig& c) { return show(c.listen_rtpp); }},
        {"listen-rtpp-unix", false,
         [](const DaemonConfig& c) {
             return c.listen_rtpp_unix.empty() ? std::string("off") : c.listen_rtpp_unix;
         }},
        {"metrics", false, [](const DaemonConfig& c) { return show(c.metrics); }},
        {"workers", false,
         [](const DaemonConfig& c) {
             return c.relay.workers == 0 ? std::string("one per core")
                                         : std::to_string(c.relay.workers);
         }},
        {"packet-io", false,
         [](const DaemonConfig& c) { return std::string(packet_io_name(c.relay.packet_io)); }},
        {"kernel-path", false,
         [](const DaemonConfig& c) { return std::string(kernel_mode_name(c.relay.kernel_path)); }},
        {"connected-sockets", false,
         [](const DaemonConfig& c) { return yes_no(c.relay.connected_sockets); }},
        {"quality-figures", false,
         [](const DaemonConfig& c) { return yes_no(c.relay.quality_figures); }},
        {"port-min", false, [](const DaemonConfig& c) { return std::to_string(c.relay.port_min); }},
        {"port-max", false, [](const DaemonConfig& c) { return std::to_string(c.relay.port_max); }},
        {"idle-timeout", false,
         [](const DaemonConfig& c) { return std::to_string(c.relay.idle_timeout_ms / 1000); }},
        {"redis", false,
         [](const DaemonConfig& c) { return c.redis ? c.redis->to_string() : std::string("off"); },
         [](const DaemonConfig& c) {
             return c.redis ? c.redis->to_string() + "\n" + c.redis->password : std::string();
         }},
        {"instance-id", false, [](const DaemonConfig& c) { return c.instance_id; }},
        {"floating-address", false,
         [](const DaemonConfig& c) {
             std::vector<std::string> parts;
             for (const Endpoint& f : c.relay.floating) parts.push_back(f.address_string());
             return join(parts);
         }},
        {"recording-dir", false,
         [](const DaemonConfig& c) {
             return c.recording_dir.empty() ? std::string("off") : c.recording_dir;
         }},
    };
    return all;
}

}  // namespace

std::string describe_networks(const AllowList& allow) {
    std::vector<std::string> parts;
    for (const Network& n : allow.networks())
        parts.push_back(fmt::format("{}/{}", n.address.address_string(), n.prefix));
    return join(parts);
}

// The table's live settings, one by one (a test holds the two lists together).
DaemonConfig with_live_settings(DaemonConfig running, const DaemonConfig& next) {
    running.log_level = next.log_level;
    running.control_allow = next.control_allow;
    running.max_sessions = next.max_sessions;
    running.max_packet_rate = next.max_packet_rate;
    running.learning = next.learning;
    running.relay.learning_window_ms = next.relay.learning_window_ms;
    return running;
}

ConfigChanges config_changes(const DaemonConfig& running, const DaemonConfig& next) {
    ConfigChanges changes;
    for (const Setting& s : settings()) {
        const auto& key = s.key ? s.key : s.show;
        if (key(running) == key(next)) continue;
        std::string was = s.show(running), now = s.show(next);
        std::string line = was == now ? fmt::format("{} changed", s.name)
                                      : fmt::format("{}: {} -> {}", s.name, was, now);
        (s.live ? changes.live : changes.restart).push_back(std::move(line));
    }
    return changes;
}

}  // namespace latch
