// admit(): the one decision every datagram meets, whichever back end read it: count it, check it,
// let it teach its stream's latch, and say whether it goes on to the other leg. Inline, as every
// back end's loop calls it for every datagram. The owning worker's thread; no allocation, no
// lock, no exception, no log line.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "flow.hpp"
#include "rtp.hpp"
#include "session.hpp"

namespace latch {

// `tally` is the worker's sum of every flow's counters: what it reports without a walk over
// its sessions. Everything counted in a flow is counted there too.
inline void count_drop(Flow& flow, FlowCounters& tally, DropReason reason) noexcept {
    ++flow.counters.drops[static_cast<std::size_t>(reason)];
    ++tally.drops[static_cast<std::size_t>(reason)];
}

inline void count_sent(Flow& out, FlowCounters& tally, std::size_t len) noexcept {
    ++out.counters.packets_out;
    out.counters.bytes_out += len;
    ++tally.packets_out;
    tally.bytes_out += len;
}

// The lines of a cold flow that a datagram reads: its head (peer, socket, counters) and the
// head of its latch (what an accepted packet reads; probation and signalling state come after).
inline void prefetch_flow(const Flow* flow) noexcept {
    const auto* latch = reinterpret_cast<const char*>(&flow->latch);
    __builtin_prefetch(flow);
    __builtin_prefetch(latch);
    __builtin_prefetch(latch + Latch::kHotBytes - 1);
}

// The same for a flow datagrams arrive on, and the head of its quality figures.
inline void prefetch_arriving(const Flow* flow) noexcept {
    const auto* quality = reinterpret_cast<const char*>(&flow->quality);
    prefetch_flow(flow);
    __builtin_prefetch(quality);
    __builtin_prefetch(quality + StreamQuality::kHotBytes - 1);
}

// An accepted RTCP datagram from the party on `in`'s leg: its sender reports, the round trip
// its report blocks' echo of the other party's sender reports gives, and what it says about
// the stream it receives.
inline void note_rtcp(Flow& in, const uint8_t* data, std::size_t len, uint64_t now_ns) noexcept {
    Flow& sent = in.rtp != nullptr ? *in.rtp : in;  // the RTP this party sends
    if (sent.peer == nullptr) return;
    Flow& received = *sent.peer;  // the RTP it receives, measured as it came from the other
    walk_rtcp(
        data, len, [&](uint32_t ntp_middle) { sent.quality.on_sender_report(ntp_middle, now_ns); },
        [&](const RtcpReportBlock& block) {
            uint32_t ssrc = received.quality.ssrc();
            if (ssrc != 0 && block.source_ssrc != ssrc) return;  // not the stream we relay
            received.quality.on_receiver_report(block);
            if (block.lsr == 0) return;
            // The other party's report passed here at sr_at; this one echoes it after dlsr.
            uint64_t sr_at = received.quality.sender_report_at(block.lsr);
            uint64_t dlsr_ns = (uint64_t{block.dlsr} * 1'000'000'000) >> 16;
            if (sr_at != 0 && now_ns > sr_at + dlsr_ns)
                sent.quality.on_party_rtt(now_ns - sr_at - dlsr_ns);
        });
}

// One datagram that arrived on `in` from `from`: true when it goes on to `in.peer`'s
// destination; otherwise it is a counted drop.
// `now` in milliseconds (uv_now), `now_ns` the same clock in nanoseconds: when the batch that
// holds the datagram was read.
inline bool admit(Flow& in, FlowCounters& tally, const uint8_t* data, std::size_t len,
                  bool truncated, const sockaddr* from, uint64_t now, uint64_t now_ns) noexcept {
    FlowCounters& counters = in.counters;
    ++counters.packets_in;
    counters.bytes_in += len;
    ++tally.packets_in;
    tally.bytes_in += len;
    if (truncated) {
        count_drop(in, tally, DropReason::too_large);
        return false;
    }
    PacketFacts facts;
    facts.can_teach = true;  // other transports: any datagram from the right peer
    PacketInfo info;
    if (in.transport == Transport::rtp) {
        info = inspect_packet(data, len);
        if (info.kind == PacketKind::malformed) {
            count_drop(in, tally, DropReason::malformed);
            return false;
        }
        bool is_rtcp = info.kind == PacketKind::rtcp;
        bool on_rtcp_port = in.component == 1;
        if (is_rtcp != on_rtcp_port && !(is_rtcp && in.rtcp_mux)) {
            count_drop(in, tally, DropReason::wrong_component);
            return false;
        }
        facts = PacketFacts{info.ssrc != 0, !is_rtcp, info.ssrc, info.seq, is_rtcp};
    }
    // The kernel forwards this flow's source: its stream's position is there (rebinding).
    if (in.kernel_flow) [[unlikely]]
        in.session->kernel_position(in, now);
    // RTCP on its own port follows what its RTP stream learned (not with rtcp-mux: one stream).
    const Latch* rtp = in.rtp != nullptr && !in.rtcp_mux ? &in.rtp->latch : nullptr;
    switch (in.latch.on_packet(Endpoint::from_sockaddr(from), facts, now, rtp)) {
        case Verdict::accept:
            break;
        case Verdict::learned:
            ++counters.learned;
            ++tally.learned;
            in.session->note_learned();
            break;
        case Verdict::foreign:
            count_drop(in, tally, DropReason::foreign_source);
            return false;
        case Verdict::not_learnable:
            count_drop(in, tally, DropReason::not_learnable);
            return false;
        case Verdict::unproven:
            count_drop(in, tally, DropReason::unproven_source);
            return false;
    }
    counters.last_packet_ms = now;
    if (in.measured) {
        if (facts.rtp)
            in.quality.on_rtp(info.ssrc, info.seq, info.timestamp, info.payload_type, now_ns);
        else if (facts.rtcp)
            note_rtcp(in, data, len, now_ns);
    }
    if (in.peer->latch.destination() == nullptr || !in.peer->socket) {
        count_drop(in, tally, DropReason::no_destination);
        return false;
    }
    if (in.session->recording() != 0) [[unlikely]]
        in.session->tap(in, from, data, len, now_ns);
    return true;
}

}  // namespace latch
