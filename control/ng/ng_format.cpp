// Formatting of query, delete and statistics replies. Control thread.
#include "ng_format.hpp"

#include <fmt/format.h>

#include <utility>

namespace latch {
namespace {

nlohmann::json endpoint_json(const Endpoint& ep) {
    if (!ep.is_set()) return nlohmann::json::object();
    return {{"family", ep.family() == AF_INET6 ? "IPv6" : "IPv4"},
            {"address", ep.address_string()},
            {"port", ep.port()}};
}

nlohmann::json counters_json(const FlowCounters& c) {
    return {{"packets", c.packets_in}, {"bytes", c.bytes_in}, {"errors", c.total_drops()}};
}

}  // namespace

nlohmann::json format_call(const Call& call, const SessionSnapshot& snap, const Clocks& clocks) {
    nlohmann::json tags = nlohmann::json::object();
    FlowCounters rtp_total, rtcp_total;
    for (int leg = 0; leg < kLegs; ++leg) {
        nlohmann::json medias = nlohmann::json::array();
        for (std::size_t i = 0; i < snap.media.size(); ++i) {
            const MediaSnapshot& m = snap.media[i];
            nlohmann::json streams = nlohmann::json::array();
            for (int c = 0; c < kComponents; ++c) {
                const FlowSnapshot& f = m.flows[leg][c];
                if (!f.local.is_set()) continue;
                (c == 0 ? rtp_total : rtcp_total) += f.counters;
                const Endpoint& endpoint = f.learned.is_set() ? f.learned : f.expected;
                streams.push_back({
                    {"local port", f.local.port()},
                    {"local address", f.local.address_string()},
                    {"family", f.local.family() == AF_INET6 ? "IPv6" : "IPv4"},
                    {"endpoint", endpoint_json(endpoint)},
                    {"advertised endpoint", endpoint_json(f.expected)},
                    {"last packet", clocks.wall_seconds(f.counters.last_packet_ms)},
                    {"flags", nlohmann::json::array({c == 0 ? "RTP" : "RTCP"})},
                    {"latch", latch_state_name(f.state)},
                    {"path", f.kernel ? "kernel" : "userspace"},
                    {"stats", counters_json(f.counters)},
                    {"sent",
                     {{"packets", f.counters.packets_out}, {"bytes", f.counters.bytes_out}}},
                });
            }
            const CallMedia* info = i < call.media.size() ? &call.media[i] : nullptr;
            medias.push_back({{"index", i + 1},
                              {"type", info ? info->type : ""},
                              {"protocol", info ? info->proto : ""},
                              {"streams", std::move(streams)}});
        }
        std::string tag =
            call.tags[leg].empty() ? "(leg " + std::to_string(leg + 1) + ")" : call.tags[leg];
        tags[tag] = {{"tag", call.tags[leg]}, {"medias", std::move(medias)}};
    }
    return {{"created", call.created_us / 1000000},
            {"created_us", call.created_us % 1000000},
            {"last signal", call.last_signal_us / 1000000},
            {"tags", std::move(tags)},
            {"totals", {{"RTP", counters_json(rtp_total)}, {"RTCP", counters_json(rtcp_total)}}}};
}

nlohmann::json format_control(const ControlReport& report) {
    nlohmann::json control = nlohmann::json::object();
    for (const ProtocolCounters& p : report.protocols) {
        nlohmann::json listener = nlohmann::json::object();
        for_each_counter(p.listener, [&](const char* name, uint64_t n) { listener[name] = n; });
        nlohmann::json commands = nlohmann::json::object();
        for (const auto& [command, results] : p.commands) {
            for (const auto& [result, n] : results) commands[command][result] = n;
        }
        listener["commands"] = std::move(commands);
        control[p.protocol] = std::move(listener);
    }
    control["packets per second"] = report.packets_per_second;
    control["kernel path"] = report.kernel_devices;
    control["stopped exceptions"] = report.stopped_exceptions;
    control["observer failures"] = report.observer_failures;
    if (!report.replication.empty()) control["replication"] = report.replication;
    return control;
}

nlohmann::json format_statistics(const std::vector<WorkerStats>& workers, uint64_t calls,
                                 const ControlReport& report) {
    const WorkerStats all = total(workers);
    const FlowCounters& totals = all.totals;
    nlohmann::json per_worker = nlohmann::json::array();
    for (const auto& w : workers) {
        per_worker.push_back({{"worker", w.worker},
                              {"sessions", w.sessions},
                              {"port pairs", w.ports_capacity},
                              {"port pairs free", w.ports_available},
                              {"packets relayed", w.totals.packets_out}});
    }
    nlohmann::json drops = nlohmann::json::object();
    for (std::size_t i = 0; i < kDropReasons; ++i) {
        drops[std::string(drop_reason_name(static_cast<DropReason>(i)))] = totals.drops[i];
    }
    return {{"calls", calls},
            {"sessions",
             {{"current", all.sessions},
              {"created", all.sessions_created},
              {"timed out", all.sessions_timed_out}}},
            {"packets",
             {{"received", totals.packets_in},
              {"relayed", totals.packets_out},
              {"by the kernel path", totals.kernel_packets}}},
            {"bytes", {{"received", totals.bytes_in}, {"relayed", totals.bytes_out}}},
            {"learned", totals.learned},
            {"drops", std::move(drops)},
            {"port pairs", {{"total", all.ports_capacity}, {"free", all.ports_available}}},
            {"workers", std::move(per_worker)},
            {"control", format_control(report)}};
}

}  // namespace latch
