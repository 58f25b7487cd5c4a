// RTP/RTCP header validation.
#include <catch2/catch.hpp>

#include "rtp.hpp"
#include "rtp_builder.hpp"

using namespace latch;
using latch::test::Bytes;

namespace {
PacketInfo check(const Bytes& b) { return inspect_packet(b.data(), b.size()); }
}  // namespace

TEST_CASE("valid RTP is recognised with its SSRC and sequence", "[rtp]") {
    auto info = check(test::make_rtp(0xdeadbeef, 4242));
    CHECK(info.kind == PacketKind::rtp);
    CHECK(info.ssrc == 0xdeadbeef);
    CHECK(info.seq == 4242);
}

TEST_CASE("valid RTCP is recognised", "[rtp]") {
    auto info = check(test::make_rtcp_rr(77));
    CHECK(info.kind == PacketKind::rtcp);
    CHECK(info.ssrc == 77);
}

TEST_CASE("malformed RTP and RTCP are rejected", "[rtp]") {
    Bytes rtp = test::make_rtp(1, 1, 0, 20);
    struct Case {
        const char* name;
        Bytes bytes;
    };
    std::vector<Case> cases;
    cases.push_back({"empty", {}});
    cases.push_back({"7 bytes", Bytes(rtp.begin(), rtp.begin() + 7)});
    cases.push_back({"11 bytes of RTP", Bytes(rtp.begin(), rtp.begin() + 11)});
    Bytes v1 = rtp;
    v1[0] = 0x40;
    cases.push_back({"version 1", v1});
    Bytes v0 = rtp;
    v0[0] = 0x00;
    cases.push_back({"version 0", v0});
    Bytes csrc = Bytes(rtp.begin(), rtp.begin() + 16);
    csrc[0] = 0x82;  // two CSRCs need 20 bytes
    cases.push_back({"CSRC list past the end", csrc});
    Bytes ext = Bytes(rtp.begin(), rtp.begin() + 20);
    ext[0] = 0x90;
    ext[14] = 0;
    ext[15] = 9;  // 9 words of extension
    cases.push_back({"extension past the end", ext});
    Bytes pad = rtp;
    pad[0] = 0xa0;
    pad.back() = 200;
    cases.push_back({"padding longer than the packet", pad});
    Bytes pad0 = rtp;
    pad0[0] = 0xa0;
    pad0.back() = 0;
    cases.push_back({"padding count zero", pad0});
    Bytes rtcp = test::make_rtcp_rr(5);
    rtcp[3] = 20;
    cases.push_back({"RTCP length past the end", rtcp});
    cases.push_back({"text", Bytes{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!', '!'}});

    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(check(c.bytes).kind == PacketKind::malformed);
    }
}

TEST_CASE("RTP with a valid extension, CSRCs and padding passes", "[rtp]") {
    Bytes b = test::make_rtp(9, 9, 0, 40);
    b[0] = 0x80 | 0x20 | 0x10 | 0x01;  // padding, extension, one CSRC
    // CSRC at 12..15, extension header at 16..19 with 1 word at 20..23
    b[18] = 0;
    b[19] = 1;
    b.back() = 4;
    CHECK(check(b).kind == PacketKind::rtp);
}

TEST_CASE("RTCP payload types 192-223 are told from RTP by RFC 5761", "[rtp]") {
    Bytes b = test::make_rtcp_rr(1);
    for (int pt : {192, 200, 201, 204, 206, 223}) {
        b[1] = static_cast<uint8_t>(pt);
        INFO(pt);
        CHECK(check(b).kind == PacketKind::rtcp);
    }
    Bytes r = test::make_rtp(1, 1);
    r[1] = 0x80 | 8;  // marker + PCMA: RTP
    CHECK(check(r).kind == PacketKind::rtp);
}
