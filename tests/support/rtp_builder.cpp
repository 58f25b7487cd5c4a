// Test packet builders. Test thread.
#include "rtp_builder.hpp"

namespace latch::test {
namespace {
void put32(Bytes& b, std::size_t at, uint32_t v) {
    b[at] = static_cast<uint8_t>(v >> 24);
    b[at + 1] = static_cast<uint8_t>(v >> 16);
    b[at + 2] = static_cast<uint8_t>(v >> 8);
    b[at + 3] = static_cast<uint8_t>(v);
}
}  // namespace

Bytes make_rtp(uint32_t ssrc, uint16_t seq, uint32_t tag, std::size_t payload_size) {
    Bytes b(12 + std::max<std::size_t>(payload_size, 4), 0);
    b[0] = 0x80;
    b[1] = 0;
    b[2] = static_cast<uint8_t>(seq >> 8);
    b[3] = static_cast<uint8_t>(seq);
    put32(b, 4, seq * 160u);
    put32(b, 8, ssrc);
    put32(b, 12, tag);
    return b;
}

Bytes make_rtcp_report(uint8_t type, uint32_t sender, uint32_t about, uint8_t fraction,
                       uint32_t lsr, uint32_t dlsr) {
    std::size_t head = type == 200 ? 28 : 8;
    Bytes b(head + 24, 0);
    b[0] = 0x81;
    b[1] = type;
    b[3] = static_cast<uint8_t>(b.size() / 4 - 1);
    put32(b, 4, sender);
    if (type == 200) {
        put32(b, 8, kReportNtpMiddle >> 16);
        put32(b, 12, kReportNtpMiddle << 16);
    }
    put32(b, head, about);
    b[head + 4] = fraction;
    b[head + 7] = 3;
    put32(b, head + 12, 160);
    put32(b, head + 16, lsr);
    put32(b, head + 20, dlsr);
    return b;
}

Bytes make_rtcp_rr(uint32_t ssrc) {
    Bytes b(8, 0);
    b[0] = 0x80;
    b[1] = 201;
    b[2] = 0;
    b[3] = 1;  // length: 2 words - 1
    put32(b, 4, ssrc);
    return b;
}

uint32_t rtp_tag(const Bytes& p) {
    if (p.size() < 16) return 0;
    return (uint32_t{p[12]} << 24) | (uint32_t{p[13]} << 16) | (uint32_t{p[14]} << 8) | p[15];
}

}  // namespace latch::test
