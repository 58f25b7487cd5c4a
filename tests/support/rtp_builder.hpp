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
// The tag written by make_rtp, read back (0 if too short).
uint32_t rtp_tag(const Bytes& packet);

}  // namespace latch::test
