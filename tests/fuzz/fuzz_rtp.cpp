// libFuzzer target: RTP/RTCP header checks on the packet path.
#include <cstdint>
#include <cstdlib>

#include "rtp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    latch::PacketInfo info = latch::inspect_packet(data, size);
    if (info.kind == latch::PacketKind::rtp && size < latch::kRtpHeaderSize) std::abort();
    if (info.kind == latch::PacketKind::rtcp && size < latch::kRtcpHeaderSize) std::abort();
    if (info.kind != latch::PacketKind::malformed && (data[0] >> 6) != 2) std::abort();
    return 0;
}
