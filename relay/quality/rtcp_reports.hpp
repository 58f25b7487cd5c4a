// What the RTCP passing through says (RFC 3550 6.4): each sender report's NTP time, and each
// report block a receiver sends about the stream it receives. Read, never altered. Any thread;
// the packet path: no allocation, bounded by the datagram's length.
#pragma once

#include <cstddef>
#include <cstdint>

namespace latch {

struct RtcpReportBlock {
    uint32_t source_ssrc = 0;     // the stream it is about
    uint8_t fraction_lost = 0;    // of 256, since the receiver's last report
    int32_t cumulative_lost = 0;  // 24-bit signed
    uint32_t jitter = 0;          // in timestamp units
    uint32_t lsr = 0;             // middle 32 bits of the NTP time of the last SR received; 0: none
    uint32_t dlsr = 0;            // delay since that SR, in 1/65536 s
};

// Calls on_sender_report(ntp_middle) for each SR of the compound packet (the middle 32 bits of
// its NTP timestamp, what a receiver echoes as LSR), and on_block(block) for each report block
// of its SRs and RRs. Stops at the first packet whose header or length does not fit.
template <typename OnSenderReport, typename OnBlock>
void walk_rtcp(const uint8_t* data, std::size_t len, OnSenderReport&& on_sender_report,
               OnBlock&& on_block) noexcept {
    auto load32 = [](const uint8_t* p) {
        return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    };
    std::size_t at = 0;
    while (at + 8 <= len) {
        const uint8_t* p = data + at;
        if ((p[0] >> 6) != 2) return;
        std::size_t bytes = 4 * (std::size_t{(uint32_t{p[2]} << 8) | p[3]} + 1);
        if (at + bytes > len) return;
        unsigned count = p[0] & 0x1f;
        uint8_t type = p[1];
        std::size_t blocks_at = 0;
        if (type == 200 && bytes >= 28) {  // SR: sender SSRC, NTP (8), RTP time, counts
            on_sender_report((load32(p + 8) << 16) | (load32(p + 12) >> 16));
            blocks_at = 28;
        } else if (type == 201) {  // RR: sender SSRC, then the blocks
            blocks_at = 8;
        }
        if (blocks_at != 0) {
            for (unsigned i = 0; i < count && blocks_at + 24 <= bytes; ++i, blocks_at += 24) {
                const uint8_t* b = p + blocks_at;
                RtcpReportBlock block;
                block.source_ssrc = load32(b);
                block.fraction_lost = b[4];
                uint32_t lost = (uint32_t{b[5]} << 16) | (uint32_t{b[6]} << 8) | b[7];
                block.cumulative_lost = (lost & 0x800000U) ? static_cast<int32_t>(lost) - 0x1000000
                                                           : static_cast<int32_t>(lost);
                block.jitter = load32(b + 12);
                block.lsr = load32(b + 16);
                block.dlsr = load32(b + 20);
                on_block(block);
            }
        }
        at += bytes;
    }
}

}  // namespace latch
