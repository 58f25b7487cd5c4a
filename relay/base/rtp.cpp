// RTP/RTCP header checks. Any thread; packet path.
#include "rtp.hpp"

namespace latch {
namespace {

uint32_t load32(const uint8_t* p) noexcept {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t load16(const uint8_t* p) noexcept {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

PacketInfo inspect_rtp(const uint8_t* data, std::size_t len) noexcept {
    PacketInfo info;
    std::size_t header = kRtpHeaderSize + 4u * (data[0] & 0x0f);
    if (header > len) return info;
    if (data[0] & 0x10) {  // header extension: 4-byte preamble, then length in 32-bit words
        if (header + 4 > len) return info;
        header += 4 + 4u * load16(data + header + 2);
        if (header > len) return info;
    }
    if (data[0] & 0x20) {  // padding: the last octet counts the padding, itself included
        std::size_t pad = data[len - 1];
        if (pad == 0 || header + pad > len) return info;
    }
    info.kind = PacketKind::rtp;
    info.seq = load16(data + 2);
    info.payload_type = data[1] & 0x7f;
    info.timestamp = load32(data + 4);
    info.ssrc = load32(data + 8);
    return info;
}

PacketInfo inspect_rtcp(const uint8_t* data, std::size_t len) noexcept {
    PacketInfo info;
    if (len < kRtcpHeaderSize) return info;
    // The first packet's length field (in 32-bit words, minus one) must fit the datagram.
    std::size_t first = 4u * (std::size_t{load16(data + 2)} + 1);
    if (first > len) return info;
    info.kind = PacketKind::rtcp;
    info.ssrc = load32(data + 4);
    return info;
}

}  // namespace

PacketInfo inspect_packet(const uint8_t* data, std::size_t len) noexcept {
    if (len < kRtcpHeaderSize || (data[0] >> 6) != 2) return {};
    uint8_t payload_type = data[1];
    // RFC 5761 4: payload types 64-95 are avoided for RTP, so 192-223 (marker set) is RTCP.
    if (payload_type >= 192 && payload_type <= 223) return inspect_rtcp(data, len);
    if (len < kRtpHeaderSize) return {};
    return inspect_rtp(data, len);
}

}  // namespace latch
