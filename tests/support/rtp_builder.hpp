// Builds RTP and RTCP packets for tests. Test thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace latch::test {

using Bytes = std::vector<uint8_t>;

// A valid RTP packet: version 2, payload type 0, with `payload_size` bytes of payload whose
// first bytes carry `tag` (to tell packets apart at the receiver).
Bytes make_rtp(uint32_t ssrc, uint16_t seq, uint32_t tag = 0, std::size_t payload_size = 160);
// A minimal RTCP receiver report (PT 201) with no report blocks.
Bytes make_rtcp_rr(uint32_t ssrc);
// An RTCP sender (PT 200) or receiver (201) report from `sender` with one report block about
// `about`: `fraction` lost of 256, 3 lost in all, a jitter of 160 timestamp units, and the
// LSR/DLSR echo given. A sender report's NTP time has the middle bits kReportNtpMiddle.
constexpr uint32_t kReportNtpMiddle = 0xABCDEF01;
Bytes make_rtcp_report(uint8_t type, uint32_t sender, uint32_t about, uint8_t fraction = 0,
                       uint32_t lsr = 0, uint32_t dlsr = 0);
// The tag written by make_rtp, read back (0 if too short).
uint32_t rtp_tag(const Bytes& packet);

}  // namespace latch::test
