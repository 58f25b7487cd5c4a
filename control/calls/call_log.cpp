// CallLog. Control thread only.
#include "call_log.hpp"

#include <fmt/format.h>

#include "log.hpp"

namespace latch {

const char* call_end_name(CallEnd why) {
    switch (why) {
        case CallEnd::deleted:
            return "deleted";
        case CallEnd::timed_out:
            return "timed out";
        case CallEnd::failed:
            return "failed";
    }
    return "ended";
}

std::string call_summary(const Call& call, const SessionSnapshot& snap) {
    std::string out;
    for (int leg = 0; leg < kLegs; ++leg) {
        FlowCounters rtp, rtcp;
        Endpoint source;
        for (const auto& m : snap.media) {
            rtp += m.flows[leg][0].counters;
            rtcp += m.flows[leg][1].counters;
            if (!source.is_set()) source = m.flows[leg][0].learned;
        }
        out += fmt::format("{}party {} from {}: rtp in={} out={} drops={} rtcp in={} out={}",
                           leg ? "; " : "", call.tags[leg].empty() ? "-" : call.tags[leg],
                           source.to_string(), rtp.packets_in, rtp.packets_out, rtp.total_drops(),
                           rtcp.packets_in, rtcp.packets_out);
        // What the party's RTP streams sounded like: loss, jitter, MOS (the lowest, if rated).
        for (const auto& m : snap.media) {
            const QualityFigures& q = m.flows[leg][0].quality;
            if (q.expected == 0) continue;
            out += fmt::format(" lost={}/{} jitter={}ms", q.lost, q.expected,
                               (q.jitter_us + 500) / 1000);
            if (q.mos.samples)
                out += fmt::format(" mos={}.{} lowest={}.{}", q.mos.average_mos_x10() / 10,
                                   q.mos.average_mos_x10() % 10, q.mos.lowest.mos_x10 / 10,
                                   q.mos.lowest.mos_x10 % 10);
        }
    }
    return out;
}

void CallLog::call_ended(const Call& call, const SessionSnapshot& final, CallEnd why) {
    if (!log_enabled(LogLevel::info)) return;  // the summary is not built for nothing
    switch (why) {
        case CallEnd::deleted:
            log(LogLevel::info, "call {} deleted: {}", call.call_id, call_summary(call, final));
            break;
        case CallEnd::timed_out:
            log(LogLevel::info, "call {} ended after {} s without media: {}", call.call_id,
                idle_timeout_ms_ / 1000, call_summary(call, final));
            break;
        case CallEnd::failed:
            log(LogLevel::info, "call {} ended: its session failed: {}", call.call_id,
                call_summary(call, final));
            break;
    }
}

}  // namespace latch
