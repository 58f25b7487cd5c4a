// Real phones' habits against the real latchd: a softphone that binds every address, announces one
// in its SDP, sends from another, sends an early RTCP packet before its answer reaches the proxy,
// and starts its RTCP reports seconds into the call, after the learning window.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <regex>

#include "daemon_process.hpp"
#include "ng_client.hpp"
#include "phone_sdp.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

Endpoint rtcp_of(const Endpoint& rtp) {
    return rtp.with_port(static_cast<uint16_t>(rtp.port() + 1));
}

// RTCP reports from `from` to `to` until `at` receives one (up to `tries`); how many arrived.
int rtcp_reaching(const UdpPeer& from, const Endpoint& to, const UdpPeer& at, uint32_t ssrc,
                  int tries) {
    int arrived = 0;
    for (int i = 0; i < tries; ++i) {
        from.send_to(to, make_rtcp_rr(ssrc));
        if (at.receive(50ms)) ++arrived;
    }
    return arrived;
}

// latchd with a short learning window, an ordinary caller on 127.0.0.1 and a callee that sends
// from 127.0.0.2, each with an RTP socket and an RTCP socket on the next port.
struct TwoPhones {
    DaemonProcess latchd;
    NgClient client{latchd.ng()};
    UdpPeer caller_rtp{"127.0.0.1"};
    UdpPeer caller_rtcp{"127.0.0.1", static_cast<uint16_t>(caller_rtp.local().port() + 1)};
    UdpPeer callee_rtp{"127.0.0.2"};
    UdpPeer callee_rtcp{"127.0.0.2", static_cast<uint16_t>(callee_rtp.local().port() + 1)};
    explicit TwoPhones(const char* port_min, const char* port_max)
        : latchd({"--workers", "1", "--port-min", port_min, "--port-max", port_max,
                  "--learning-window", "300"}) {}
};

}  // namespace

TEST_CASE(
    "RTCP that starts after the learning window, from another address than the SDP's, follows its "
    "RTP",
    "[habits][rtcp]") {
    // The callee binds every address, announces 127.0.0.1 but sends from 127.0.0.2 (as does its
    // SIP), for RTP and RTCP alike.
    TwoPhones t("33200", "33299");
    auto& [latchd, client, caller_rtp, caller_rtcp, callee_rtp, callee_rtcp] = t;
    json offer = *client.request({{"command", "offer"},
                                  {"call-id", "habits"},
                                  {"from-tag", "a"},
                                  {"received-from", {"IP4", "127.0.0.1"}},
                                  {"sdp", audio_sdp(caller_rtp.local().port())}},
                                 NgEncoding::bencode, 3s);
    Endpoint callee_sends_to = relay_rtp_of(offer["sdp"]);
    // The callee's early RTCP, before its answer reaches latch: not learned from.
    callee_rtcp.send_to(rtcp_of(callee_sends_to), make_rtcp_rr(0xB));
    CHECK_FALSE(caller_rtcp.receive(200ms));
    json answer = *client.request({{"command", "answer"},
                                   {"call-id", "habits"},
                                   {"from-tag", "a"},
                                   {"to-tag", "b"},
                                   {"received-from", {"IP4", "127.0.0.2"}},
                                   {"sdp", audio_sdp(callee_rtp.local().port())}},
                                  NgEncoding::bencode, 3s);
    Endpoint caller_sends_to = relay_rtp_of(answer["sdp"]);
    // Audio both ways from the start (the callee, having sent its 200 OK, speaks first).
    for (uint16_t seq = 1; seq <= 5; ++seq) {
        callee_rtp.send_to(callee_sends_to, make_rtp(0xB, seq));
        REQUIRE(caller_rtp.receive(2s));
        caller_rtp.send_to(caller_sends_to, make_rtp(0xA, seq));
        REQUIRE(callee_rtp.receive(2s));
    }
    // The window has long closed (300 ms) when the reports start.
    caller_rtp.receive(500ms);
    CHECK(rtcp_reaching(callee_rtcp, rtcp_of(callee_sends_to), caller_rtcp, 0xB, 5) == 5);
    CHECK(rtcp_reaching(caller_rtcp, rtcp_of(caller_sends_to), callee_rtcp, 0xA, 5) == 5);
    // A stranger's RTCP on the same ports goes nowhere.
    UdpPeer stranger("127.0.0.9");
    CHECK(rtcp_reaching(stranger, rtcp_of(callee_sends_to), caller_rtcp, 0x5, 3) == 0);
    json stats = *client.request({{"command", "statistics"}}, NgEncoding::json, 3s);
    CHECK(stats["statistics"]["drops"]["unproven-source"] == 1);  // the early RTCP packet
    CHECK(stats["statistics"]["drops"]["foreign-source"] == 3);   // the stranger's
    CHECK(latchd.stop() == 0);
}

TEST_CASE(
    "a phone that announces a private address and sends from elsewhere gets audio both ways, RTCP "
    "too",
    "[habits][nat]") {
    TwoPhones t("33300", "33399");
    auto& [latchd, client, caller_rtp, caller_rtcp, callee_rtp, callee_rtcp] = t;
    json offer = *client.request({{"command", "offer"},
                                  {"call-id", "nat"},
                                  {"from-tag", "a"},
                                  {"sdp", audio_sdp(caller_rtp.local().port())}},
                                 NgEncoding::json, 3s);
    // The callee is behind a NAT: its SDP names its private address; no received-from.
    json answer = *client.request({{"command", "answer"},
                                   {"call-id", "nat"},
                                   {"from-tag", "a"},
                                   {"to-tag", "b"},
                                   {"sdp", audio_sdp(4000, "192.168.1.20")}},
                                  NgEncoding::json, 3s);
    Endpoint callee_sends_to = relay_rtp_of(offer["sdp"]),
             caller_sends_to = relay_rtp_of(answer["sdp"]);
    int reached_caller = 0;
    for (uint16_t seq = 1; seq <= 10; ++seq) {
        callee_rtp.send_to(callee_sends_to, make_rtp(0xB, seq));
        if (caller_rtp.receive(20ms)) ++reached_caller;
    }
    CHECK(reached_caller >= 10 - 5);  // a few lost while it proves itself, no more
    caller_rtp.send_to(caller_sends_to, make_rtp(0xA, 1));
    CHECK(callee_rtp.receive(2s));  // sent where it really is, not to 192.168.1.20
    caller_rtp.receive(400ms);
    CHECK(rtcp_reaching(callee_rtcp, rtcp_of(callee_sends_to), caller_rtcp, 0xB, 3) == 3);
    CHECK(latchd.stop() == 0);
}
