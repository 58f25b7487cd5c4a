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

// One MOS sample in rtpengine's form (what Kamailio's rtpengine module reads): MOS times ten,
// round-trip times in microseconds (end to end, and the relay's to the stream's sender), jitter
// in milliseconds, loss in percent.
nlohmann::json mos_json(unsigned mos_x10, int64_t rtt_us, int64_t leg_rtt_us, uint64_t jitter_us,
                        uint64_t loss_ppm) {
    return {{"MOS", mos_x10},
            {"round-trip time", rtt_us < 0 ? 0 : rtt_us},
            {"round-trip time leg", leg_rtt_us < 0 ? 0 : leg_rtt_us},
            {"jitter", (jitter_us + 500) / 1000},
            {"packet loss", (loss_ppm + 5000) / 10000}};
}

nlohmann::json mos_sample_json(const MosSample& s, const Clocks& clocks) {
    nlohmann::json j = mos_json(s.mos_x10, s.rtt_us, s.leg_rtt_us, s.jitter_us, s.loss_ppm);
    j["reported at"] = clocks.wall_seconds(s.at_ms);
    return j;
}

// rtpengine's per-SSRC entry: the call's average, lowest and highest MOS samples.
nlohmann::json ssrc_json(const QualityFigures& q, const Clocks& clocks) {
    const MosSummary& m = q.mos;
    uint64_t n = m.samples;
    nlohmann::json average = mos_json(
        m.average_mos_x10(), m.rtt_samples ? static_cast<int64_t>(m.rtt_us / m.rtt_samples) : -1,
        m.leg_rtt_samples ? static_cast<int64_t>(m.leg_rtt_us / m.leg_rtt_samples) : -1,
        m.jitter_us / n, m.loss_ppm / n);
    average["samples"] = n;
    return {{"cumulative loss", q.lost},
            {"average MOS", std::move(average)},
            {"lowest MOS", mos_sample_json(m.lowest, clocks)},
            {"highest MOS", mos_sample_json(m.highest, clocks)}};
}

// latch's own figures of a stream, measured from its RTP headers.
nlohmann::json quality_json(const QualityFigures& q, const Clocks& clocks) {
    nlohmann::json j = {
        {"packets expected", q.expected}, {"packets received", q.received},
        {"packets lost", q.lost},         {"loss ppm", q.loss_ppm()},
        {"duplicates", q.duplicates},     {"reordered", q.reordered},
        {"longest gap", q.longest_gap},   {"longest silence ms", q.longest_silence_ms},
        {"jitter us", q.jitter_us},       {"highest jitter us", q.max_jitter_us},
        {"clock rate", q.clock_rate},     {"restarts", q.restarts}};
    if (q.clock_rate) j["payload type"] = q.payload_type;
    // From RTCP: the relay's round trip to the stream's sender, and what its receiver reported.
    if (q.party_rtt_us >= 0) {
        j["sender round-trip time us"] = q.party_rtt_us;
        j["sender round-trip time average us"] = q.party_rtt_average_us;
        j["sender round-trip time samples"] = q.party_rtt_samples;
    }
    if (q.reports) {
        j["reported by receiver"] = {{"reports", q.reports},
                                     {"fraction lost", q.reported_fraction_lost},
                                     {"cumulative lost", q.reported_cumulative_lost},
                                     {"jitter us", q.reported_jitter_us}};
    }
    if (q.mos.samples) {
        j["MOS"] = {{"average", q.mos.average_mos_x10()},
                    {"lowest", q.mos.lowest.mos_x10},
                    {"lowest at", clocks.wall_seconds(q.mos.lowest.at_ms)},
                    {"highest", q.mos.highest.mos_x10},
                    {"samples", q.mos.samples}};
    }
    return j;
}

}  // namespace

nlohmann::json format_call(const Call& call, const SessionSnapshot& snap, const Clocks& clocks) {
    nlohmann::json tags = nlohmann::json::object();
    nlohmann::json ssrcs = nlohmann::json::object();
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
                const QualityFigures& q = f.quality;
                if (c == 0 && m.transport == Transport::rtp && q.ssrc != 0) {
                    nlohmann::json& stream = streams.back();
                    stream["SSRC"] = q.ssrc;
                    stream["quality"] = quality_json(q, clocks);
                    if (q.mos.samples) ssrcs[std::to_string(q.ssrc)] = ssrc_json(q, clocks);
                }
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
        if (!call.labels[leg].empty()) tags[tag]["label"] = call.labels[leg];
    }
    return {{"created", call.created_us / 1000000},
            {"created_us", call.created_us % 1000000},
            {"last signal", call.last_signal_us / 1000000},
            {"tags", std::move(tags)},
            {"SSRC", std::move(ssrcs)},
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

namespace {

// Recordings: the workers' copies (and those a full ring refused: the datagrams were relayed,
// not recorded) and the recorder's files.
nlohmann::json recording_json(const WorkerStats& all, const ControlReport& report) {
    nlohmann::json j = {{"packets copied", all.recorded},
                        {"packets not recorded (ring full)", all.recording_drops}};
    for (const auto& [name, n] : report.recording) j[name] = n;
    return j;
}

}  // namespace

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
            {"recording", recording_json(all, report)},
            {"control", format_control(report)}};
}

}  // namespace latch
