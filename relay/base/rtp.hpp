// RTP/RTCP header checks (RFC 3550, RFC 5761 demultiplexing). Pure functions; any thread,
// called on the packet path: no allocation, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace latch {

enum class PacketKind : uint8_t {
    rtp,        // a well-formed RTP packet
    rtcp,       // a well-formed RTCP packet (first packet of a compound)
    malformed,  // too short, wrong version, inconsistent lengths
};

struct PacketInfo {
    PacketKind kind = PacketKind::malformed;
    uint32_t ssrc = 0;         // RTP SSRC, or the sender SSRC of the first RTCP packet
    uint16_t seq = 0;          // RTP only
    uint8_t payload_type = 0;  // RTP only, without the marker bit
    uint32_t timestamp = 0;    // RTP only
};

inline constexpr std::size_t kRtpHeaderSize = 12;
inline constexpr std::size_t kRtcpHeaderSize = 8;

// Tells RTP from RTCP by the payload type byte as RFC 5761 section 4 does, then checks the
// header of whichever it is.
PacketInfo inspect_packet(const uint8_t* data, std::size_t len) noexcept;

}  // namespace latch
