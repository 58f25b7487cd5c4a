// libFuzzer target: RTP/RTCP header checks on the packet path, the RTCP report reader, and a
// stream's quality accounting fed arbitrary sequences (as the kernel path and userspace share it).
#include <cstdint>
#include <cstdlib>

#include "rtcp_reports.hpp"
#include "rtp.hpp"
#include "stream_quality.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    latch::PacketInfo info = latch::inspect_packet(data, size);
    if (info.kind == latch::PacketKind::rtp && size < latch::kRtpHeaderSize) std::abort();
    if (info.kind == latch::PacketKind::rtcp && size < latch::kRtcpHeaderSize) std::abort();
    if (info.kind != latch::PacketKind::malformed && (data[0] >> 6) != 2) std::abort();

    std::size_t blocks = 0;
    latch::walk_rtcp(
        data, size, [](uint32_t) {}, [&](const latch::RtcpReportBlock&) { ++blocks; });
    if (blocks > size / 24) std::abort();

    // Records of 8 bytes: SSRC choice, sequence number, timestamp, payload type and the time
    // since the last packet; the first half measured here, the rest as the kernel path would.
    latch::StreamQuality user;
    latch::ClockRates rates;
    rates.set(96, 48000);
    user.set_clock_rates(rates);
    latch_rtp_quality kernel{};
    uint64_t now = 1'000'000'000;
    std::size_t records = size / 8, fed = 0;
    for (std::size_t i = 0; i < records; ++i) {
        const uint8_t* r = data + 8 * i;
        uint32_t ssrc = 0x100u + (r[0] & 3);
        auto seq = static_cast<uint16_t>((r[1] << 8) | r[2]);
        uint32_t ts = (uint32_t{r[3]} << 16) | (uint32_t{r[4]} << 8) | r[5];
        uint8_t pt = r[6] & 0x7f;
        now += uint64_t{r[7]} * 1'000'000;
        if (i == records / 2) kernel = user.seed();
        if (i < records / 2) {
            user.on_rtp(ssrc, seq, ts, pt, now);
        } else {
            latch_quality_on_rtp(&kernel, ssrc, seq, ts, pt, now);
        }
        ++fed;
    }
    latch::QualityFigures f = user.figures(&kernel);
    if (f.received > fed || f.duplicates > fed || f.lost > f.expected) std::abort();
    user.absorb(kernel);
    latch::QualityFigures g = user.figures();
    if (g.received != f.received || g.expected != f.expected) std::abort();
    user.sample(10'000, 0, -1);
    return 0;
}
